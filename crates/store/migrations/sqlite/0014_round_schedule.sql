-- A region's daily round (product design: "the regional admin, or a schedule, e.g. daily,
-- starts a round"): the Almaty time of day ("HH:MM") at which a round starts on each working
-- day, NULL when the regional administrator starts rounds by hand; and the last day whose
-- scheduled round a server took, so that of several servers exactly one runs it.
ALTER TABLE queue_settings ADD COLUMN round_time TEXT;
ALTER TABLE queue_settings ADD COLUMN scheduled_round_on TEXT;
