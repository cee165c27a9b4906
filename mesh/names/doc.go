// Package names is the pure core of the mesh's DNS for members: which
// exporting site answers a question (Table.Route), how that site's reply is
// turned into the member's reply (Answer), and a bounded cache of the sites'
// replies (Cache). It does no I/O and starts no goroutines; callers pass the
// time in.
//
// A project's zones are asked of the exporting site's own resolver. Its A
// records inside the export's real CIDR are rewritten into the wire prefix,
// host bits kept, unless the member uses the project transparently (then it
// reaches the real addresses). A PTR question for a wire address is asked as
// the PTR of the real address and answered under the name asked. Two
// projects may answer one zone: a member gets its own project's answer, and a
// member of several gets the project whose name sorts first.
package names
