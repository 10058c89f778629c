package regress

import (
	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/config"
)

var busSubjects = bus.Subjects{}

func defaultRuntime() config.Runtime { return config.DefaultRuntime() }
