package removal_test

import (
	"strings"
	"testing"

	"github.com/noderemover/noderemover/removal"
)

// TestCheckPassword holds CCE's rule for a node password (the ECS adminPass
// rule): each case breaks one part of it, or none.
func TestCheckPassword(t *testing.T) {
	const kinds = "needs at least three of: upper-case letters, lower-case letters, digits, special characters !@$%^-_=+[{}]:,./?~#*"
	const notAllowed = "holds a character CCE does not allow (only letters, digits and !@$%^-_=+[{}]:,./?~#*)"
	cases := []struct {
		name     string
		password string
		username string // "" = the default, root
		want     string // the error; "" = accepted
	}{
		{"AllFourKinds", "Pa55word!", "", ""},
		{"NoSpecial", "Passw0rdx", "", ""},
		{"NoUpper", "pa55-word", "", ""},
		{"NoLower", "PA55-WORD", "", ""},
		{"NoDigit", "Pass-word", "", ""},
		{"EightCharacters", "Aa1-Aa1-", "", ""},
		{"TwentySixCharacters", strings.Repeat("Aa1-", 6) + "Aa", "", ""},
		{"EverySpecial", "Aa1!@$%^-_=+[{}]:,./?~#*", "", ""},
		{"Empty", "", "", "is empty"},
		{"OneCharacter", "a", "", "is 1 character; CCE wants 8 to 26"},
		{"SevenCharacters", "Aa1-Aa1", "", "is 7 characters; CCE wants 8 to 26"},
		{"TwentySevenCharacters", strings.Repeat("Aa1-", 6) + "Aa1", "", "is 27 characters; CCE wants 8 to 26"},
		{"TwoKinds", "password12", "", kinds + " (it has 2)"},
		{"OneKind", "passwordxx", "", kinds + " (it has 1)"},
		{"Space", "Pa55 word", "", notAllowed},
		{"Ampersand", "Pa55&word", "", notAllowed},
		{"Quote", `Pa55"word`, "", notAllowed},
		{"Backslash", `Pa55\word`, "", notAllowed},
		{"NonASCII", "Pässw0rd!", "", notAllowed},
		{"ControlCharacter", "Pa55\tword", "", "holds a control character (a stray newline?)"},
		{"Newline", "Pa55word!\n", "", "holds a control character (a stray newline?)"},
		{"InvalidUTF8", "Pa55word!\xff", "", "is not valid UTF-8"},
		{"HoldsRoot", "My-root-Pa55", "", `contains the user name "root" (or it reversed)`},
		{"HoldsRootInOtherCase", "My-ROOT-Pa55", "", `contains the user name "root" (or it reversed)`},
		{"HoldsRootReversed", "Toor-Pa55word", "", `contains the user name "root" (or it reversed)`},
		{"RootIsTheDefault", "My-root-Pa55", "root", `contains the user name "root" (or it reversed)`},
		{"HoldsCustomUser", "Admin-Pa55word", "admin", `contains the user name "admin" (or it reversed)`},
		{"HoldsCustomUserReversed", "Nimda-Pa55word", "admin", `contains the user name "admin" (or it reversed)`},
		{"RootWithCustomUser", "My-root-Pa55", "admin", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := removal.CheckPassword(tc.password, tc.username)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want %q", tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("error %q, want %q", err, tc.want)
			}
			// (A password of a few letters is found in any sentence.)
			if len(tc.password) >= 6 && strings.Contains(err.Error(), tc.password) {
				t.Errorf("error repeats the password: %v", err)
			}
			// What CCE would refuse is never hashed.
			if _, err := removal.HashPassword(tc.password, tc.username); err == nil {
				t.Error("HashPassword hashed it")
			}
		})
	}
}
