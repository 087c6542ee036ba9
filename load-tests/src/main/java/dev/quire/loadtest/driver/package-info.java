/**
 * How the benchmark talks to servers and drives load: one non-blocking {@link dev.quire.loadtest.driver.Driver}
 * per protocol (Quire gRPC, OpenAI-compatible HTTP with SSE), the per-request timing capture, the load runner
 * (arrivals, concurrency, warm-up, duration) and fault injection.
 */
package dev.quire.loadtest.driver;
