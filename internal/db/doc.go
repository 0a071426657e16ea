// Package db opens novaflow's PostgreSQL pool and applies its schema: embedded,
// versioned SQL migrations run by goose under a PostgreSQL advisory lock, so
// that any number of services may start at once against a new database.
package db
