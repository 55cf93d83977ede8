package wechattest

import (
	"bytes"
	"image"
	"image/png"
	"strings"
	"testing"

	qrcode "github.com/skip2/go-qrcode"
)

// TestCodePNG decodes codePNG's image with image/png and compares every
// pixel with go-qrcode's Image, for short and long texts (small and large
// QR versions) and widths that are and are not multiples of the modules.
func TestCodePNG(t *testing.T) {
	for _, text := range []string{
		ScanURL("wx0123456789abcdef", "A"),
		ScanURL("wx0123456789abcdef", strings.Repeat("Z", maxSceneLen)),
		strings.Repeat("wxemu://scan?appid=wx&scene=!#$&'()*+,/:;=?@-._~", 8),
	} {
		for _, width := range []int{minCodeWidth, 281, 333, defaultCodeWidth, 1000, maxCodeWidth} {
			b, err := codePNG(text, width)
			if err != nil {
				t.Fatal(err)
			}
			got, err := png.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("%d px: %v", width, err)
			}
			q, err := qrcode.New(text, qrcode.Medium)
			if err != nil {
				t.Fatal(err)
			}
			want := q.Image(width)
			if got.Bounds() != want.Bounds() {
				t.Fatalf("%d px: bounds %v, want %v", width, got.Bounds(), want.Bounds())
			}
			if p := firstDifference(got, want); p != nil {
				t.Errorf("%q at %d px: pixel %v differs from go-qrcode's", text[:20], width, *p)
			}
		}
	}
}

func firstDifference(a, b image.Image) *image.Point {
	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
		for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 {
				return &image.Point{X: x, Y: y}
			}
		}
	}
	return nil
}

// BenchmarkCodePNG is the emulator's cost of one mini-program code,
// against go-qrcode's own PNG.
func BenchmarkCodePNG(b *testing.B) {
	text := ScanURL("wx0123456789abcdef", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
	b.Run("codePNG", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := codePNG(text, defaultCodeWidth); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("go-qrcode", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := qrcode.Encode(text, qrcode.Medium, defaultCodeWidth); err != nil {
				b.Fatal(err)
			}
		}
	})
}
