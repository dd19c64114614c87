"""Workers: the job pipeline, the local worker process, the lease keeper and the sweeper."""
