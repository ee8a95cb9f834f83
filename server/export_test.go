package server

// Stored returns how many entries the cache wrote since it was opened.
func (c *NARCache) Stored() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stored
}
