#!/bin/sh
# Makes the FAX TIFF samples of the fax_pages tests with libtiff's own encoders (Debian's
# libtiff-tools), so the decoder is checked against what fax software writes, not against itself.
# The pages: white with a black frame, a solid block at x 100-299, y 40-79 and lines of
# "text" (short bars); page 2 is shorter and has a block at x 1000-1099, y 20-59. The 1-D
# Group 3 file is cut into strips of 64 rows.
set -e
cd "$(dirname "$0")"
python3 - <<'PY'
def page(name, width, height, block):
    rows = []
    for y in range(height):
        row = bytearray(width // 8)
        def black(x):
            row[x // 8] |= 0x80 >> (x % 8)
        for x in range(width):
            frame = x < 4 or x >= width - 4 or y < 4 or y >= height - 4
            bx0, by0, bx1, by1 = block
            solid = bx0 <= x < bx1 and by0 <= y < by1
            text = y >= 120 and (y // 24) % 2 == 0 and (y % 24) < 14 and 60 <= x < width - 60 and (x * 7 // 30 + y // 24) % 5 != 0 and x % 30 < 22
            if frame or solid or text:
                black(x)
        rows.append(bytes(row))
    with open(name, "wb") as f:
        f.write(b"P4\n%d %d\n" % (width, height))
        f.write(b"".join(rows))
page("p1.pbm", 1728, 400, (100, 40, 300, 80))
page("p2.pbm", 1728, 240, (1000, 20, 1100, 60))
PY
ppm2tiff p1.pbm p1.tif
ppm2tiff p2.pbm p2.tif
tiffcp -c g4 p1.tif p2.tif fax-g4.tif
tiffcp -c g3:1d -r 64 p1.tif p2.tif fax-g3-1d.tif
tiffcp -c g3:2d:fill p1.tif fax-g3-2d.tif
tiffcp -c g3:2d -f lsb2msb p1.tif fax-g3-2d-lsb.tif
tiffcp -c packbits p1.tif fax-packbits.tif
tiffcp -c none p1.tif fax-uncompressed.tif
rm -f p1.pbm p2.pbm p1.tif p2.tif
