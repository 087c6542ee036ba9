/** The {@code quire bench} command line ({@link dev.quire.loadtest.cli.BenchCommand}) and its standalone main. */
package dev.quire.loadtest.cli;
