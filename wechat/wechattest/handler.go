package wechattest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// maxBody bounds request bodies read by the emulator.
const maxBody = 64 << 10

// Handler returns the emulator's HTTP handler. It serves, at its root, the
// WeChat API paths (/sns/jscode2session, /wxa/business/getuserphonenumber,
// /cgi-bin/token, /cgi-bin/stable_token, /wxa/checksession,
// /wxa/resetusersessionkey, /wxa/getwxacodeunlimit, /sns/oauth2/access_token,
// /sns/oauth2/refresh_token, /sns/userinfo, /sns/auth), WeChat's browser
// authorize pages (GET /connect/qrconnect, GET /connect/oauth2/authorize:
// see servePage) and the helper endpoints:
//
//	POST   /login   {"appid","user"}                          → {"code"}
//	POST   /app-login {"appid","user"}                        → {"code"} (Open SDK SendAuth)
//	POST   /phone   {"appid","user","phone_number"[,"tamper"]} → {"code","encryptedData","iv"}
//	POST   /scan    {"scene","user"}                          → {"appid","scene","code"} (a wx.login code; 404 for an unknown scene)
//	POST   /faults  a Fault as JSON ("delay" as a Go duration, e.g. "250ms") → 204
//	DELETE /faults  clear faults → 204
//	GET    /calls   the call log as JSON; DELETE /calls resets it
//
// Helper errors are 400 {"error":"…"}. Mount it under a prefix with
// http.StripPrefix.
func (e *Emulator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/sns/jscode2session", e.api(APIJSCode2Session, false, e.identifyJSCode, e.jscode2session))
	mux.HandleFunc("/wxa/business/getuserphonenumber", e.api(APIPhoneNumber, true, e.identifyPhone, e.phoneNumber))
	mux.HandleFunc("/cgi-bin/token", e.api(APIToken, false, identifyQueryApp, e.classicToken))
	mux.HandleFunc("/cgi-bin/stable_token", e.api(APIStableToken, false, identifyBodyApp, e.stableToken))
	mux.HandleFunc("/wxa/checksession", e.api(APICheckSession, true, e.identifyOpenID, e.checkSession))
	mux.HandleFunc("/wxa/resetusersessionkey", e.api(APIResetUserSessionKey, true, e.identifyOpenID, e.resetSessionKey))
	mux.HandleFunc("/wxa/getwxacodeunlimit", e.api(APIUnlimitedCode, false, e.identifyTokenApp, e.unlimitedCode))
	mux.HandleFunc("/sns/oauth2/access_token", e.api(APIWebAccessToken, false, e.identifyWebCode, e.webAccessToken))
	mux.HandleFunc("/sns/oauth2/refresh_token", e.api(APIWebRefreshToken, false, e.identifyRefresh, e.webRefreshToken))
	mux.HandleFunc("/sns/userinfo", e.api(APIWebUserInfo, false, e.identifyWebToken, e.webUserInfo))
	mux.HandleFunc("/sns/auth", e.api(APIWebAuth, true, e.identifyWebToken, e.webAuth))
	mux.HandleFunc(qrConnectPage.path, e.servePage(qrConnectPage))
	mux.HandleFunc(authorizePage.path, e.servePage(authorizePage))
	mux.HandleFunc("/login", e.serveLogin)
	mux.HandleFunc("/app-login", e.serveAppLogin)
	mux.HandleFunc("/phone", e.servePhone)
	mux.HandleFunc("/scan", e.serveScan)
	mux.HandleFunc("/faults", e.serveFaults)
	mux.HandleFunc("/calls", e.serveCalls)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
	})
	return mux
}

// apiReq is one request to a WeChat API path.
type apiReq struct {
	r       *http.Request
	body    []byte
	tooBig  bool
	appID   string
	user    string
	hasUser bool
	now     time.Time
}

// answer is the real processing's outcome.
type answer struct {
	errcode int
	errmsg  string // overrides the standard errmsg
	data    map[string]any
	image   []byte // a success answered as PNG bytes instead of JSON
}

func fail(code int) answer { return answer{errcode: code} }

// api wraps an endpoint with fault injection and the call log.
func (e *Emulator) api(name string, okOnSuccess bool, identify func(*apiReq), process func(*apiReq) answer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := &apiReq{r: r, now: e.clock.Now()}
		if r.Body != nil {
			b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
			q.body, q.tooBig = b, err != nil || len(b) > maxBody
		}
		identify(q)
		e.mu.Lock()
		f := e.takeFaultLocked(name, q.appID, q.user, q.hasUser)
		e.mu.Unlock()
		call := Call{API: name, AppID: q.appID, User: q.user, At: q.now, Faulted: f != nil}
		defer func() { e.logCall(call) }()
		// ConsumeCode processes first (the code is used even if the caller
		// then times out during Delay); otherwise processing happens after
		// the delay, and not at all when the fault fails the request.
		var ans answer
		processed := false
		if f != nil && f.ConsumeCode {
			ans, processed = process(q), true
		}
		if f != nil {
			if !hold(r, f) {
				call.Outcome = -499
				return
			}
			if f.failing() {
				call.Outcome = writeFault(w, f)
				return
			}
		}
		if !processed {
			ans = process(q)
		}
		call.Outcome = ans.errcode
		writeAnswer(w, ans, okOnSuccess, f)
	}
}

// hold waits for the fault's Delay and Hold; false if the caller went away.
func hold(r *http.Request, f *Fault) bool {
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return false
		}
	}
	if f.Hold != nil {
		select {
		case <-f.Hold:
		case <-r.Context().Done():
			return false
		}
	}
	return true
}

const jsonContentType = "application/json; encoding=utf-8"

func writeFault(w http.ResponseWriter, f *Fault) int {
	if f.HTTPStatus != 0 || f.RawBody {
		status := f.HTTPStatus
		if status == 0 {
			status = http.StatusOK
		}
		ct := f.ContentType
		if ct == "" {
			ct = "text/plain; charset=utf-8"
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, f.Body)
		return -status
	}
	writeAnswer(w, answer{errcode: f.ErrCode}, false, f)
	return f.ErrCode
}

func writeAnswer(w http.ResponseWriter, ans answer, okOnSuccess bool, f *Fault) {
	if ans.errcode == 0 && ans.image != nil {
		ct := "image/png"
		if f != nil && f.ContentType != "" {
			ct = f.ContentType
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(ans.image)
		return
	}
	body := make(map[string]any, len(ans.data)+2)
	if ans.errcode != 0 {
		msg := ans.errmsg
		if msg == "" {
			msg = errmsgs[ans.errcode]
			if msg == "" {
				msg = "injected error"
			}
		}
		body["errcode"] = ans.errcode
		body["errmsg"] = msg + ", rid: " + rid()
	} else {
		for k, v := range ans.data {
			body[k] = v
		}
		if f != nil {
			switch f.SuccessErrCode {
			case ErrCodePresent:
				okOnSuccess = true
			case ErrCodeAbsent:
				okOnSuccess = false
			}
		}
		if okOnSuccess {
			body["errcode"] = 0
			body["errmsg"] = "ok"
		}
	}
	ct := jsonContentType
	if f != nil && f.ContentType != "" {
		ct = f.ContentType
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(body)
}

// rid mimics the request id suffix of WeChat's errmsg.
func rid() string {
	return fmt.Sprintf("%08x-%08x-%08x", rand.Uint32(), rand.Uint32(), rand.Uint32())
}

var errmsgs = map[int]string{
	-1:    "system error",
	40001: "invalid credential, access_token is invalid or not latest",
	40002: "invalid grant_type",
	40003: "invalid openid",
	40013: "invalid appid",
	40014: "invalid access_token",
	40029: "invalid code",
	40030: "invalid refresh_token",
	40097: "invalid args",
	40125: "invalid appsecret",
	40163: "code been used",
	40164: "invalid ip, not in whitelist",
	40226: "code blocked",
	40243: "appsecret frozen",
	41001: "access_token missing",
	41002: "appid missing",
	41003: "refresh_token missing",
	41004: "appsecret missing",
	41008: "missing code",
	41030: "invalid page",
	42001: "access_token expired",
	42002: "refresh_token expired",
	43001: "require GET method",
	43002: "require POST method",
	44002: "empty post data",
	45009: "reach max api daily quota limit",
	45011: "api minute-quota reach limit  mustslower  retry next minute",
	47001: "data format error",
	48001: "api unauthorized",
	87008: "invalid sig_method",
	87009: "invalid signature",
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// remoteAddr returns the caller's IP (unmapped), invalid if unparsable.
func remoteAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

func (a *appState) ipAllowed(ip netip.Addr) bool {
	if len(a.whitelist) == 0 {
		return true
	}
	for _, p := range a.whitelist {
		if ip.IsValid() && p.Contains(ip) {
			return true
		}
	}
	return false
}

func ipAnswer(ip netip.Addr) answer {
	v6 := netip.AddrFrom16(ip.As16())
	return answer{errcode: 40164, errmsg: fmt.Sprintf("invalid ip %s ipv6 %s, not in whitelist", ip, v6)}
}

// decodeHelper decodes a helper endpoint's JSON body.
func decodeHelper(w http.ResponseWriter, r *http.Request, v any) bool {
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use POST"})
		return false
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(b) > maxBody {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body too large or unreadable"})
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad JSON"})
		return false
	}
	return true
}

func (e *Emulator) serveLogin(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AppID string `json:"appid"`
		User  string `json:"user"`
	}
	if !decodeHelper(w, r, &in) {
		return
	}
	code, err := e.Login(in.AppID, in.User)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"code": code})
}

// serveAppLogin plays the Open SDK's SendAuth in a mobile app.
func (e *Emulator) serveAppLogin(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AppID string `json:"appid"`
		User  string `json:"user"`
	}
	if !decodeHelper(w, r, &in) {
		return
	}
	code, err := e.AppLogin(in.AppID, in.User)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"code": code})
}

func (e *Emulator) servePhone(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AppID       string `json:"appid"`
		User        string `json:"user"`
		PhoneNumber string `json:"phone_number"`
		Tamper      Tamper `json:"tamper"`
	}
	if !decodeHelper(w, r, &in) {
		return
	}
	g, err := e.PhoneTampered(in.AppID, in.User, in.PhoneNumber, in.Tamper)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, g)
}

func (e *Emulator) serveFaults(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodDelete {
		e.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var in struct {
		Fault
		Delay string `json:"delay"`
	}
	if !decodeHelper(w, r, &in) {
		return
	}
	if in.Delay != "" {
		d, err := time.ParseDuration(in.Delay)
		if err != nil || d < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad delay: want a Go duration such as 250ms"})
			return
		}
		in.Fault.Delay = d
	}
	switch in.SuccessErrCode {
	case ErrCodeDefault, ErrCodePresent, ErrCodeAbsent:
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `bad success_errcode: want "", "present" or "absent"`})
		return
	}
	e.Inject(in.Fault)
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) serveCalls(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		type callJSON struct {
			API     string    `json:"api"`
			AppID   string    `json:"appid"`
			User    string    `json:"user,omitempty"`
			Outcome int       `json:"outcome"`
			Faulted bool      `json:"faulted,omitempty"`
			At      time.Time `json:"at"`
		}
		calls := e.Calls()
		out := make([]callJSON, len(calls))
		for i, c := range calls {
			out[i] = callJSON(c)
		}
		writeJSON(w, http.StatusOK, out)
	case http.MethodDelete:
		e.ResetCalls()
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use GET or DELETE"})
	}
}
