/**
 * What the benchmark sends: reproducible request streams (synthetic random, shared-prefix, datasets from a
 * file) and the arrival processes that decide when each request goes out.
 */
package dev.quire.loadtest.workload;
