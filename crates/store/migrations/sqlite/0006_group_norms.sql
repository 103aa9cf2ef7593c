-- The region's norm of places per group, by age band ("band:places,..."): a kindergarten that
-- declares a group smaller than the norm is shown to the auditor. Not from the seeds: the
-- default is a conservative floor a region replaces with its own norms.
ALTER TABLE queue_settings ADD COLUMN group_norms TEXT NOT NULL DEFAULT '1-2:10,2-3:15,3-4:20,4-5:20,5-6:20';
