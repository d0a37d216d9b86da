// Package metal owns the GPU compute backend for Apple Silicon: a
// compute.Backend that runs the forward pass as Metal kernels.
//
// The package has two layers:
//
//   - Device (device.go) is the platform layer, kept thin: buffers, one
//     compiled library, and running a recorded Batch as one command buffer
//     with GPU timestamps. device_darwin.go implements it with purego and
//     Objective-C messages (MTLCreateSystemDefaultDevice, no cgo);
//     package metaltest implements it in Go for tests on any machine.
//   - Backend (backend.go) is everything else, platform-independent: where
//     each slice lives (Alloc'd buffers, weights wrapped in place from the
//     memory-mapped model with newBufferWithBytesNoCopy over page-aligned
//     ranges, constants copied once), which kernel each operation
//     dispatches with what arguments and grid (kernels.go), the batch of one
//     forward pass, the marks that become component windows on the GPU's
//     clock mapped onto clock.Now() (clockmap.go), and the probes read back
//     after the batch ran.
//
// The kernels are MSL source embedded in the binary (kernels.metal) and
// compiled at first use. SelfTest runs every operation on random inputs
// against the CPU backend; "auto" picks Metal only where it passed
// (package engine/metal/selftest cache in the CLI).
package metal
