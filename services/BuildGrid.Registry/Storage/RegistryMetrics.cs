using System.Diagnostics.Metrics;

namespace BuildGrid.Registry.Storage;

/// <summary>
/// Blob traffic of the registry on <c>/metrics</c>: <c>buildgrid_registry_blob_bytes_total{direction="in"}</c> counts the
/// bytes of blob uploads written to storage, <c>direction="out"</c> the bytes of blob downloads handed to the connection
/// (proxy-cache fills included, as uploads). Counted per 1 MiB chunk: the cost is one add per chunk.
/// </summary>
static class RegistryMetrics
{
    static readonly Meter Meter = new("BuildGrid.Registry");
    static readonly Counter<long> Bytes = Meter.CreateCounter<long>("buildgrid.registry.blob.bytes", "By", "Blob bytes received (in) and sent (out)");
    static readonly KeyValuePair<string, object?> In = new("direction", "in");
    static readonly KeyValuePair<string, object?> Out = new("direction", "out");

    public static void Received(long bytes) { if (bytes > 0) Bytes.Add(bytes, In); }
    public static void Sent(long bytes) { if (bytes > 0) Bytes.Add(bytes, Out); }
}
