package wechat

import (
	"strconv"
	"time"
)

// CallObserver records every HTTP attempt the client makes to WeChat, for
// metrics. It must be cheap and safe for concurrent use.
type CallObserver interface {
	// ObserveCall reports one attempt: the API name ("jscode2session",
	// "getuserphonenumber", "stable_token", "wxa_getwxacodeunlimit",
	// "sns_oauth2_access_token", "sns_oauth2_refresh_token", "sns_userinfo",
	// "sns_auth"), its outcome (the errcode as a decimal string, "0" for
	// success, an image answer included, or OutcomeTransport when neither
	// JSON nor an expected image came back) and how long it took.
	ObserveCall(api, outcome string, d time.Duration)
}

// OutcomeTransport is the outcome of an attempt that got no JSON answer:
// network failure, timeout, non-2xx status or a malformed body.
const OutcomeTransport = "transport"

func (c *Client) observe(api string, errcode int, transport bool, start time.Time) {
	if c.observer == nil {
		return
	}
	outcome := OutcomeTransport
	if !transport {
		outcome = strconv.Itoa(errcode)
	}
	c.observer.ObserveCall(api, outcome, time.Since(start))
}
