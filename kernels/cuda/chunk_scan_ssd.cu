#include "chunk_scan_internal.hpp"

namespace ssmkit::cuda {

// Placeholder until the chunked kernel lands: every shape takes the recurrence.
bool chunk_scan_ssd_supports(const ChunkScanDeviceArgs&) { return false; }
void launch_chunk_scan_ssd(const ChunkScanDeviceArgs&, cudaStream_t) {}

}  // namespace ssmkit::cuda
