package camera

import (
	"reflect"
	"strings"
	"testing"
)

// The published examples pin the hash arithmetic independently of the fake
// server, which shares the RFC but not the code.
func TestDigestRFCVectors(t *testing.T) {
	for _, tc := range []struct {
		name, user, pass, realm, nonce, opaque, alg, cnonce, want string
	}{
		{ // RFC 2617 §3.5
			name: "RFC2617", user: "Mufasa", pass: "Circle Of Life", realm: "testrealm@host.com",
			nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque: "5ccc069c403ebaf9f0171e9517f40e41",
			cnonce: "0a4f113b", want: "6629fae49393a05397450978507c4ef1",
		},
		{ // RFC 7616 §3.9.1, MD5
			name: "RFC7616-MD5", user: "Mufasa", pass: "Circle of Life", realm: "http-auth@example.org",
			nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque: "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
			alg: "MD5", cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", want: "8ca523f5e9506fed4657c9700eebdbec",
		},
		{ // RFC 7616 §3.9.1, SHA-256
			name: "RFC7616-SHA256", user: "Mufasa", pass: "Circle of Life", realm: "http-auth@example.org",
			nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque: "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
			alg: "SHA-256", cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
			want: "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := `Digest realm="` + tc.realm + `", qop="auth,auth-int", nonce="` + tc.nonce + `", opaque="` + tc.opaque + `"`
			if tc.alg != "" {
				h += ", algorithm=" + tc.alg
			}
			chs := parseChallenges([]string{h})
			if len(chs) != 1 {
				t.Fatalf("challenges: %+v", chs)
			}
			d, err := newDigestState(chs[0])
			if err != nil {
				t.Fatal(err)
			}
			got := d.authorizeWith(tc.user, tc.pass, "GET", "/dir/index.html", tc.cnonce, 1)
			p := parseChallenges([]string{got})[0].params
			if p["response"] != tc.want {
				t.Fatalf("response %s, want %s\n%s", p["response"], tc.want, got)
			}
			for k, v := range map[string]string{"username": tc.user, "uri": "/dir/index.html", "nc": "00000001", "qop": "auth", "opaque": tc.opaque, "cnonce": tc.cnonce} {
				if p[k] != v {
					t.Errorf("%s = %q, want %q", k, p[k], v)
				}
			}
		})
	}
}

func TestParseChallenges(t *testing.T) {
	got := parseChallenges([]string{
		`Digest realm="cam, front", nonce="a\"b", qop="auth,auth-int", stale=TRUE, Basic realm="x"`,
		`Negotiate`,
		`  ,Bearer realm=y`,
	})
	want := []challenge{
		{"digest", map[string]string{"realm": "cam, front", "nonce": `a"b`, "qop": "auth,auth-int", "stale": "TRUE"}},
		{"basic", map[string]string{"realm": "x"}},
		{"negotiate", map[string]string{}},
		{"bearer", map[string]string{"realm": "y"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	// Junk must terminate.
	parseChallenges([]string{`"""=,,=="`, strings.Repeat("=", 100)})
}

func TestDigestStateRejects(t *testing.T) {
	for _, h := range []string{
		`Digest realm="r"`, // no nonce
		`Digest realm="r", nonce="n", algorithm=SHA-512-256`,
		`Digest realm="r", nonce="n", qop="auth-int"`,
	} {
		if _, err := newDigestState(parseChallenges([]string{h})[0]); err == nil {
			t.Errorf("%s: accepted", h)
		}
	}
}

func TestCredentialsDoNotPrintPassword(t *testing.T) {
	c := Credentials{Username: "admin", Password: "s3cret"}
	for _, s := range []string{c.String(), c.LogValue().String()} {
		if strings.Contains(s, "s3cret") {
			t.Fatalf("password in %q", s)
		}
	}
}
