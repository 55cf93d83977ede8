package wechattest

// CodePNG lets the external tests compare getwxacodeunlimit's image with
// the code drawn for its scene (codePNG; TestCodePNG checks its pixels).
var CodePNG = codePNG
