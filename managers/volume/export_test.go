package volume

// OwnerQuery is the statement of Owner, for a test of its plan.
const OwnerQuery = ownerQuery
