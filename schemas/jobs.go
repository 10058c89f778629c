package schemas

// Job is a durable batch job published to the JetStream work queue on
// krserve.v1.jobs.<queue> with the Nats-Msg-Id header set to ID, so a job
// submitted twice within the duplicate window is stored once.
type Job struct {
	V               int               `msgpack:"v"`
	ID              string            `msgpack:"id"`
	Request         GenerateRequest   `msgpack:"request"`
	SubmittedUnixMs int64             `msgpack:"submitted_ms,omitempty"`
	Metadata        map[string]string `msgpack:"metadata,omitempty"` // copied to the result
}

// Validate implements Message.
func (j *Job) Validate() error {
	if j.ID == "" {
		return invalid("Job", "id", "missing")
	}
	if err := validID("Job", "id", j.ID); err != nil {
		return err
	}
	if len(j.Metadata) > 64 {
		return invalid("Job", "metadata", "%d entries exceeds 64", len(j.Metadata))
	}
	r := j.Request
	r.V = Version // the embedded request inherits the job's version
	return r.Validate()
}

func (j *Job) version() int { return j.V }

// JobStatus is the outcome of a job.
type JobStatus string

// Job statuses.
const (
	JobDone   JobStatus = "done"
	JobFailed JobStatus = "failed" // permanent failure (bad request) or dead-lettered after max deliveries
)

// JobResult is stored in the results KV bucket under the job id once the job
// finishes; the work-queue message is acknowledged only after the store
// succeeds, so a crash before that redelivers the job.
type JobResult struct {
	V               int               `msgpack:"v"`
	JobID           string            `msgpack:"job_id"`
	Status          JobStatus         `msgpack:"status"`
	Text            string            `msgpack:"text,omitempty"`
	IDs             []int32           `msgpack:"ids,omitempty"`
	FinishReason    FinishReason      `msgpack:"finish_reason,omitempty"`
	Usage           *Usage            `msgpack:"usage,omitempty"`
	Error           *Error            `msgpack:"error,omitempty"`
	Worker          string            `msgpack:"worker,omitempty"`
	Deliveries      int32             `msgpack:"deliveries"`
	CompletedUnixMs int64             `msgpack:"completed_ms"`
	Metadata        map[string]string `msgpack:"metadata,omitempty"`
}

// Validate implements Message.
func (r *JobResult) Validate() error {
	if r.JobID == "" {
		return invalid("JobResult", "job_id", "missing")
	}
	switch r.Status {
	case JobDone:
	case JobFailed:
		if r.Error == nil {
			return invalid("JobResult", "error", "missing for a failed job")
		}
	default:
		return invalid("JobResult", "status", "%q", r.Status)
	}
	return nil
}

func (r *JobResult) version() int { return r.V }
