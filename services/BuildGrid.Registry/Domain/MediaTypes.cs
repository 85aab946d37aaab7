namespace BuildGrid.Registry.Domain;

public static class MediaTypes
{
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string OciEmpty = "application/vnd.oci.empty.v1+json";

    public static bool IsIndex(string mediaType) => mediaType is OciIndex or DockerManifestList;
    public static bool IsImageManifest(string mediaType) => mediaType is OciManifest or DockerManifest;
    public static bool IsManifest(string mediaType) => IsIndex(mediaType) || IsImageManifest(mediaType);

    /// <summary>Layers that registries do not have to hold (they carry <c>urls</c> to fetch them from elsewhere).</summary>
    public static bool IsNonDistributable(string mediaType) =>
        mediaType.Contains(".nondistributable.", StringComparison.Ordinal)
        || mediaType.StartsWith("application/vnd.docker.image.rootfs.foreign.", StringComparison.Ordinal);
}
