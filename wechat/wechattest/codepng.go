package wechattest

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"sync"

	qrcode "github.com/skip2/go-qrcode"
)

// codePNG draws the QR code of text as a width×width PNG: black modules on
// white, each pixel the nearest module, exactly the pixels of go-qrcode's
// Image(width). go-qrcode's own PNG costs about 3.8 ms per code (an 8-bit
// image through image/png at its best compression, most of it spent per
// pixel); a code is two colours, so it is written here as a 1-bit indexed
// PNG, a row at a time, with repeated rows copied: about 0.6 ms, nearly all
// of it the QR encoding. Benchmarks of the server's scan path run the
// emulator on the same machine, so its cost is kept small.
func codePNG(text string, width int) ([]byte, error) {
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return nil, err
	}
	bitmap := q.Bitmap()
	modules := len(bitmap)
	width = max(width, modules) // as go-qrcode: never fewer pixels than modules
	// One PNG row: the filter type (0, none), then width bits, MSB first.
	rowLen := 1 + (width+7)/8
	raw := make([]byte, rowLen*width)
	modulesPerPixel := float64(modules) / float64(width)
	prev := -1
	for y := range width {
		row := raw[y*rowLen : (y+1)*rowLen]
		my := int(float64(y) * modulesPerPixel)
		if my == prev {
			copy(row, raw[(y-1)*rowLen:y*rowLen])
			continue
		}
		prev = my
		for x := range width {
			if bitmap[my][int(float64(x)*modulesPerPixel)] {
				row[1+x/8] |= 0x80 >> (x % 8)
			}
		}
	}

	var out bytes.Buffer
	out.Grow(2048)
	out.WriteString("\x89PNG\r\n\x1a\n")
	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], uint32(width))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(width))
	ihdr[8] = 1 // bit depth
	ihdr[9] = 3 // colour type: indexed; compression, filter, interlace: 0
	writeChunk(&out, "IHDR", ihdr[:])
	writeChunk(&out, "PLTE", []byte{0xff, 0xff, 0xff, 0, 0, 0}) // 0 white, 1 black
	var idat bytes.Buffer
	zw := zlibWriters.Get().(*zlib.Writer)
	zw.Reset(&idat)
	_, err = zw.Write(raw)
	if err == nil {
		err = zw.Close()
	}
	zlibWriters.Put(zw)
	if err != nil {
		return nil, err
	}
	writeChunk(&out, "IDAT", idat.Bytes())
	writeChunk(&out, "IEND", nil)
	return out.Bytes(), nil
}

// zlibWriters: a deflate writer holds about a megabyte of state; reused.
var zlibWriters = sync.Pool{New: func() any {
	zw, _ := zlib.NewWriterLevel(nil, zlib.BestSpeed) // a valid level: no error
	return zw
}}

// writeChunk appends a PNG chunk: length, type, data, CRC of type and data.
func writeChunk(out *bytes.Buffer, typ string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	out.Write(n[:])
	out.WriteString(typ)
	out.Write(data)
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	binary.BigEndian.PutUint32(n[:], crc.Sum32())
	out.Write(n[:])
}
