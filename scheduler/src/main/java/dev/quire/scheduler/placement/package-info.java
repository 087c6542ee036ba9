/**
 * Placement of requests across workers: which worker runs a request, from the load and prefix-cache
 * contents the workers publish. Pure logic, no I/O: the gateway feeds it the cluster's view.
 */
package dev.quire.scheduler.placement;
