package numbers

// FormatLike writes the E.164 number e164 the way pattern, the site's
// default phone as its pages show it, is written: pattern's digits are
// replaced, right-aligned, by the number's ("+7 (495) 000-00-00" and
// +74951234567 give "+7 (495) 123-45-67"). A Russian trunk prefix is kept
// ("8 (495) 000-00-00" gives "8 (495) 123-45-67"). When pattern has more
// digits than the number, or none, the number is returned as it is.
func FormatLike(pattern, e164 string) string {
	var num []byte
	for i := 0; i < len(e164); i++ {
		if c := e164[i]; c >= '0' && c <= '9' {
			num = append(num, c)
		}
	}
	n := 0
	first := -1
	for i := 0; i < len(pattern); i++ {
		if c := pattern[i]; c >= '0' && c <= '9' {
			if first < 0 {
				first = i
			}
			n++
		}
	}
	if n == 0 || n > len(num) {
		return e164
	}
	digits := num[len(num)-n:]
	if n == len(num) && pattern[first] == '8' && num[0] == '7' {
		digits = append([]byte{'8'}, digits[1:]...)
	}
	out := []byte(pattern)
	k := 0
	for i := range out {
		if out[i] >= '0' && out[i] <= '9' {
			out[i] = digits[k]
			k++
		}
	}
	return string(out)
}
