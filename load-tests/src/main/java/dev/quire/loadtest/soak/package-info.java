/** The soak test ({@code quire soak}): a long mixed load, the server's gauges sampled throughout, and a verdict. */
package dev.quire.loadtest.soak;
