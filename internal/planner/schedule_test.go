/*
Copyright 2026 The region-withdrawal-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package planner

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// Europe/Berlin in 2026: clocks jump 02:00 CET -> 03:00 CEST on 29 March
// (01:00 UTC) and fall back 03:00 CEST -> 02:00 CET on 25 October (01:00 UTC).
var (
	berlinSpringJump   = utc("2026-03-29T01:00:00Z")
	berlinFallBackEdge = utc("2026-10-25T01:00:00Z")
)

func TestRecurrenceNext(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	karachi := mustLoad(t, "Asia/Karachi")
	tests := []struct {
		name     string
		expr     string
		loc      *time.Location
		after    time.Time
		wantNext []time.Time
	}{
		{
			name:  "weekly Monday 09:00 in Karachi is 04:00 UTC",
			expr:  "0 9 * * MON",
			loc:   karachi,
			after: utc("2026-11-30T00:00:00Z"),
			wantNext: []time.Time{
				utc("2026-11-30T04:00:00Z"), utc("2026-12-07T04:00:00Z"), utc("2026-12-14T04:00:00Z"),
			},
		},
		{
			name:  "a local time skipped by spring-forward fires once at the jump",
			expr:  "30 2 * * *",
			loc:   berlin,
			after: utc("2026-03-27T12:00:00Z"),
			wantNext: []time.Time{
				utc("2026-03-28T01:30:00Z"), // 02:30 CET
				berlinSpringJump,            // 02:30 does not exist: 03:00 CEST
				utc("2026-03-30T00:30:00Z"), // 02:30 CEST
			},
		},
		{
			name:  "every slot inside the skipped hour collapses to one firing",
			expr:  "*/20 2 * * *",
			loc:   berlin,
			after: utc("2026-03-28T23:00:00Z"),
			wantNext: []time.Time{
				berlinSpringJump,            // 02:00, 02:20 and 02:40 are all skipped
				utc("2026-03-30T00:00:00Z"), // 02:00 CEST next day
			},
		},
		{
			name:  "a local time repeated by fall-back fires once, at its first occurrence",
			expr:  "30 2 * * *",
			loc:   berlin,
			after: utc("2026-10-24T12:00:00Z"),
			wantNext: []time.Time{
				utc("2026-10-25T00:30:00Z"), // 02:30 CEST, first occurrence
				utc("2026-10-26T01:30:00Z"), // 02:30 CET next day
			},
		},
		{
			name:  "hourly through fall-back: the repeated hour fires once",
			expr:  "0 * * * *",
			loc:   berlin,
			after: utc("2026-10-24T23:30:00Z"), // 01:30 CEST
			wantNext: []time.Time{
				utc("2026-10-25T00:00:00Z"), // 02:00 CEST
				utc("2026-10-25T02:00:00Z"), // 03:00 CET; the second 02:00 (01:00Z) does not fire
				utc("2026-10-25T03:00:00Z"),
			},
		},
		{
			name:  "descriptor @weekly is Sunday midnight local",
			expr:  "@weekly",
			loc:   karachi,
			after: utc("2026-12-01T00:00:00Z"),
			wantNext: []time.Time{
				utc("2026-12-05T19:00:00Z"), utc("2026-12-12T19:00:00Z"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRecurrence(tt.expr, tt.loc)
			if err != nil {
				t.Fatal(err)
			}
			cursor := tt.after
			for i, want := range tt.wantNext {
				got, ok := r.Next(cursor)
				if !ok || !got.Equal(want) {
					t.Fatalf("slot %d after %s: got %s (ok=%v), want %s", i, cursor, got, ok, want)
				}
				cursor = got
			}
		})
	}
}

func TestRecurrenceNextImpossibleDate(t *testing.T) {
	r, err := ParseRecurrence("0 0 30 2 *", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := r.Next(utc("2026-01-01T00:00:00Z")); ok {
		t.Fatalf("30 February has no slot, got %s", got)
	}
}

func TestParseRecurrenceRejects(t *testing.T) {
	for _, expr := range []string{"", "   ", "61 * * * *", "* * *", "@every 1h", "CRON_TZ=UTC 0 9 * * *", "TZ=UTC 0 9 * * *", "0 9 * * FUNDAY", "0 0 0 0 0 0"} {
		t.Run(expr, func(t *testing.T) {
			_, err := ParseRecurrence(expr, time.UTC)
			if !errors.Is(err, ErrInvalidSchedule) {
				t.Fatalf("ParseRecurrence(%q) = %v, want ErrInvalidSchedule", expr, err)
			}
		})
	}
}

func TestRecurrenceMissed(t *testing.T) {
	karachi := mustLoad(t, "Asia/Karachi")
	tests := []struct {
		name       string
		expr       string
		after      time.Time
		upTo       time.Time
		wantLatest time.Time
		wantCount  int
	}{
		{
			name:       "three weekly slots missed during downtime",
			expr:       "0 9 * * MON",
			after:      utc("2026-11-29T00:00:00Z"),
			upTo:       utc("2026-12-15T00:00:00Z"),
			wantLatest: utc("2026-12-14T04:00:00Z"),
			wantCount:  3,
		},
		{
			name:      "nothing missed",
			expr:      "0 9 * * MON",
			after:     utc("2026-11-30T04:00:00Z"),
			upTo:      utc("2026-12-07T03:59:59Z"),
			wantCount: 0,
		},
		{
			name:       "a slot exactly at upTo counts",
			expr:       "0 9 * * MON",
			after:      utc("2026-11-30T04:00:00Z"),
			upTo:       utc("2026-12-07T04:00:00Z"),
			wantLatest: utc("2026-12-07T04:00:00Z"),
			wantCount:  1,
		},
		{
			name:       "a year of minutely slots is capped, and the latest is still exact",
			expr:       "* * * * *",
			after:      utc("2025-12-01T00:00:00Z"),
			upTo:       utc("2026-12-01T10:17:30Z"),
			wantLatest: utc("2026-12-01T10:17:00Z"),
			wantCount:  maxSlotScan,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRecurrence(tt.expr, karachi)
			if err != nil {
				t.Fatal(err)
			}
			latest, count := r.Missed(tt.after, tt.upTo)
			if count != tt.wantCount || !latest.Equal(tt.wantLatest) {
				t.Fatalf("Missed = (%s, %d), want (%s, %d)", latest, count, tt.wantLatest, tt.wantCount)
			}
		})
	}
}

func TestWallToInstantRoundTrips(t *testing.T) {
	// Away from transitions, every wall-clock minute maps back to itself.
	for _, name := range []string{"Asia/Karachi", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"} {
		loc := mustLoad(t, name)
		for t0 := utc("2026-01-01T00:00:00Z"); t0.Before(utc("2027-01-01T00:00:00Z")); t0 = t0.Add(97 * time.Minute) {
			got := wallToInstant(naive(t0, loc), loc)
			if naive(got, loc) != naive(t0, loc) {
				t.Fatalf("%s: wall %s mapped to %s (wall %s)", name, naive(t0, loc), got, naive(got, loc))
			}
			if got.After(t0) {
				t.Fatalf("%s: %s mapped to later occurrence %s", name, t0, got)
			}
		}
	}
}

func BenchmarkRecurrenceMissedYearOfMinutes(b *testing.B) {
	r, err := ParseRecurrence("* * * * *", mustLoad(b, "Asia/Karachi"))
	if err != nil {
		b.Fatal(err)
	}
	after, upTo := utc("2025-12-01T00:00:00Z"), utc("2026-12-01T10:17:30Z")
	for b.Loop() {
		r.Missed(after, upTo)
	}
}

// TestReminderSpacing: a minutely schedule over a month would be 43,000
// notices to every customer; schedules that fire closer together than the
// minimum are refused, with the gap and when it occurs.
func TestReminderSpacing(t *testing.T) {
	for _, tc := range []struct {
		schedule string
		refused  string
	}{
		{schedule: "0 9 * * MON"},
		{schedule: "0 * * * *"},
		{schedule: "* * * * *", refused: "fires 1m0s apart"},
		{schedule: "*/5 9 * * *", refused: "fires 5m0s apart"},
		// Once a day, but twice in the first hour of each Monday.
		{schedule: "0,30 0 * * MON", refused: "fires 30m0s apart"},
	} {
		spec := pakistanSpec()
		spec.Notify.Reminders.Schedule = tc.schedule
		tl, err := Compile(spec)
		if err != nil {
			t.Fatalf("%s: %v", tc.schedule, err)
		}
		err = tl.CheckReminderSpacing(time.Hour)
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("%s refused: %v", tc.schedule, err)
		case tc.refused != "" && (!IsSpecError(err) || !strings.Contains(err.Error(), tc.refused) || !strings.Contains(err.Error(), "spec.notify.reminders.schedule")):
			t.Errorf("%s: %v, want a SpecError saying %q", tc.schedule, err, tc.refused)
		}
	}
}
