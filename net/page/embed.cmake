# Turn the page (IN) into a C file (OUT) defining rc_page_html and rc_page_html_len (net/rc_page.h),
# at build time: cmake -DIN=... -DOUT=... -P embed.cmake. The page is compiled into the server so
# that it serves / with nothing to install.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n"
       bytes "${bytes}")
file(WRITE ${OUT} "/* Generated from net/page/index.html by net/page/embed.cmake. */\n"
     "#include \"rc_page.h\"\n\n"
     "const unsigned char rc_page_html[] = {\n${bytes}\n};\n"
     "const size_t rc_page_html_len = ${len};\n")
