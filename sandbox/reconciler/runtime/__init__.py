"""The reconciler runtime, modelled on controller-runtime: informers, work queues, controllers, conditions,
events and metrics."""
