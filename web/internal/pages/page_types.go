package pages

// Page is one of the page structs of this package; Render knows how to draw
// each of them.
type Page interface{ isPage() }

// Field is a hidden form field, rendered as <input type=hidden>.
type Field struct{ Name, Value string }

// The consent form's decision: the pressed button submits DecisionField with
// DecisionAllow or DecisionDeny.
const (
	DecisionField = "decision"
	DecisionAllow = "allow"
	DecisionDeny  = "deny"
)

// The kinds of LoginMethod, as in the login_method request parameter.
const (
	MethodWebsiteQR       = "website_qr"
	MethodOfficialAccount = "official_account"
	MethodMiniProgramScan = "miniprogram_scan"
)

// LoginMethod is one way to sign in offered on the login page.
type LoginMethod struct {
	Kind string // MethodWebsiteQR, MethodOfficialAccount or MethodMiniProgramScan
	URL  string // GET link that starts this method
}

// LoginPage lets the person choose how to sign in to ClientName.
type LoginPage struct {
	Locale     Locale
	ClientName string
	Methods    []LoginMethod // display order; the first is the primary button
	Scopes     []string      // OAuth scope names, shown in words
	PrivacyURL string        // optional link to the client's privacy policy
}

// ScanPage shows a mini-program code for the person to scan with WeChat and
// waits, with a small script, for them to confirm on their phone
// (docs/contract.md §1.6). The script talks JSON to the server:
//
//   - GET StatusURL?wait=25 answers {"status": S} with S one of pending,
//     scanned, approved, denied, expired, and "continue_url" when approved;
//     a 404 means the ticket is gone (treated as expired);
//   - on approved the browser goes to the continue_url (ContinueURL);
//   - on expired or denied the person may ask for a fresh code: GET RenewURL
//     with "Accept: application/json" answers {"image_url", "status_url",
//     "continue_url", "renew_url", "expires_in"} of a new ticket, and the
//     page swaps them in without a reload. Without the script, RenewURL is
//     an ordinary link that loads a fresh page.
type ScanPage struct {
	Locale      Locale
	ClientName  string
	ImageURL    string // the code image, served by us (never a WeChat URL)
	StatusURL   string
	ContinueURL string
	RenewURL    string
	ExpiresIn   int // seconds the code lives
	Scopes      []string
	// Others are the other ways in offered under the code (e.g. the
	// website QR page), as on LoginPage.
	Others     []LoginMethod
	PrivacyURL string
}

// ConsentPage asks whether ClientName may have Scopes. Its form POSTs Fields
// to Action with DecisionField set by the pressed button.
type ConsentPage struct {
	Locale     Locale
	ClientName string
	Scopes     []string // shown as "{client} 将获得：…" / "{client} will get: …"
	Action     string   // form action URL (POST)
	Fields     []Field  // hidden fields (the request and a CSRF token)
	// AllowName and AllowValue name the "Allow" button; empty means
	// DecisionField and DecisionAllow. "Deny" submits AllowName=DecisionDeny.
	AllowName, AllowValue string
	PrivacyURL            string // optional link to the client's privacy policy
	// FormTargets are where the form's answer redirects (the client's
	// redirect URI): the page's CSP form-action must allow them.
	FormTargets []string
}

// ErrorKind says what went wrong; each kind has its own words. An unknown
// kind renders a generic message.
type ErrorKind string

// The error kinds with their own wording.
const (
	ErrBadRequest        ErrorKind = "bad_request"        // the app sent a broken sign-in link
	ErrUnknownClient     ErrorKind = "unknown_client"     // client_id not registered
	ErrBadRedirectURI    ErrorKind = "bad_redirect_uri"   // redirect_uri not registered for the client
	ErrClientDisabled    ErrorKind = "client_disabled"    // the client is switched off
	ErrAccountDisabled   ErrorKind = "account_disabled"   // the person's account is switched off
	ErrSnapshotUser      ErrorKind = "snapshot_user"      // WeChat's "snapshot page" virtual user
	ErrWeChatDenied      ErrorKind = "wechat_denied"      // the person cancelled in WeChat
	ErrFlowExpired       ErrorKind = "flow_expired"       // took too long or already used
	ErrBrowserMismatch   ErrorKind = "browser_mismatch"   // started in another browser
	ErrWeChatUnavailable ErrorKind = "wechat_unavailable" // WeChat busy or unreachable
	ErrWeChatError       ErrorKind = "wechat_error"       // WeChat answered with an error
	ErrServerError       ErrorKind = "server_error"       // our fault
	ErrNotFound          ErrorKind = "not_found"          // no such page
	ErrScanUnavailable   ErrorKind = "scan_unavailable"   // WeChat could not make a mini-program code just now
)

// ErrorPage tells the person what happened, whether it was their fault, and
// what to do next.
type ErrorPage struct {
	Locale     Locale
	Kind       ErrorKind
	ClientName string // may be empty
	BackURL    string // optional "返回 {client}" / "Back to {client}" link
	RetryURL   string // optional "重新登录" / "Sign in again" link
	Code       string // OAuth error code shown small and grey for support (may be empty)
	// Others are other ways in, shown as secondary links under the actions
	// (e.g. the website QR page when the mini-program code failed).
	Others []LoginMethod
}

// LoggedOutPage confirms that the login session has ended.
type LoggedOutPage struct {
	Locale     Locale
	ClientName string
	ReturnURL  string // optional link back to the client
}

// LogoutConfirmPage asks before ending the login session (RP-Initiated
// Logout without a valid id_token_hint). Its form POSTs Fields to Action.
type LogoutConfirmPage struct {
	Locale     Locale
	ClientName string
	Action     string
	Fields     []Field
	ReturnURL  string // optional: where "Cancel" goes
	// FormTargets are where signing out redirects (the post-logout
	// redirect URI): the page's CSP form-action must allow them.
	FormTargets []string
}

func (LoginPage) isPage()         {}
func (ScanPage) isPage()          {}
func (ConsentPage) isPage()       {}
func (ErrorPage) isPage()         {}
func (LoggedOutPage) isPage()     {}
func (LogoutConfirmPage) isPage() {}
