package engine

// collectTracer records every event, as a profiler would.
type collectTracer struct {
	depth      Depth
	phases     []string
	tokens     []TokenEvent
	components []ComponentEvent
}

func (c *collectTracer) reset() {
	c.phases, c.tokens, c.components = c.phases[:0], c.tokens[:0], c.components[:0]
}
func (c *collectTracer) Depth() Depth                { return c.depth }
func (c *collectTracer) PhaseStart(p Phase, t int64) { c.phases = append(c.phases, "start "+string(p)) }
func (c *collectTracer) PhaseEnd(p Phase, t int64)   { c.phases = append(c.phases, "end "+string(p)) }
func (c *collectTracer) Token(ev TokenEvent)         { c.tokens = append(c.tokens, ev) }
func (c *collectTracer) Component(ev ComponentEvent) { c.components = append(c.components, ev) }
