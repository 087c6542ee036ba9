/**
 * What the benchmark shows: the serving metrics under the field's names (vLLM's {@code benchmark_serving}),
 * computed with HdrHistogram; the final table, the JSON result file, the HTML sweep report and the live
 * progress line.
 */
package dev.quire.loadtest.report;
