// Package servicegroup is the services table and the liveness rule built on it,
// as nova's Service object and servicegroup DB driver: one row per (host,
// binary), created or updated when a service starts, bumped by status reports,
// and judged up or down by IsUp.
//
// Times are the database's: rows are written with now() and judged against the
// database's clock, so hosts with skewed clocks do not see each other as down.
package servicegroup
