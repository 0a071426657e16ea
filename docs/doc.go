// Package docs holds novaflow's documentation (the Markdown files beside this
// one) and the tests that keep it true: tutorial_test.go checks that the code
// docs/writing-a-service.md quotes is still in the source, and runs every
// shell command of it against a real dev stack.
package docs
