package provider

// TokenObserver records issued tokens, for metrics. It must be cheap and
// safe for concurrent use.
type TokenObserver interface {
	// ObserveTokenIssued reports one successful token response: its grant
	// type and the client it was issued to.
	ObserveTokenIssued(grantType, clientID string)
}

// observeIssued reports a successful token response to cfg.Metrics.
func (p *Provider) observeIssued(grantTypes []string, clientID string) {
	if p.metrics == nil || len(grantTypes) == 0 {
		return
	}
	p.metrics.ObserveTokenIssued(grantTypes[0], clientID)
}
