package nixbase32_test

import (
	"fmt"

	"github.com/nardedup/nardedup/narfmt/nixbase32"
)

func ExampleEncodeToString() {
	fmt.Println(nixbase32.EncodeToString([]byte{0x01, 0x02}))
	// Output: 00h1
}
