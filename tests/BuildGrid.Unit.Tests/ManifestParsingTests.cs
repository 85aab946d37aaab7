using System.Text;
using BuildGrid.Registry.Domain;

namespace BuildGrid.Unit.Tests;

/// <summary>Manifests as the registry reads them before storing: descriptors, subject, artifact type, and refusals.</summary>
public sealed class ManifestParsingTests
{
    const string Digest1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const string Digest2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const string Digest3 = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
    const string OciManifest = "application/vnd.oci.image.manifest.v1+json";

    [Fact]
    public void An_oci_artifact_with_a_subject_lists_its_blobs_and_its_artifact_type()
    {
        var json = $$$"""
            {"schemaVersion":2,"mediaType":"{{{OciManifest}}}","artifactType":"application/spdx+json",
             "config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{{{Digest1}}}","size":2},
             "layers":[{"mediaType":"application/spdx+json","digest":"{{{Digest2}}}","size":10}],
             "subject":{"mediaType":"{{{OciManifest}}}","digest":"{{{Digest3}}}","size":300},
             "annotations":{"org.example.kind":"sbom"}}
            """;
        var parsed = ParsedManifest.Parse(Encoding.UTF8.GetBytes(json), OciManifest);
        Assert.Equal(OciManifest, parsed.MediaType);
        Assert.Equal("application/spdx+json", parsed.EffectiveArtifactType);
        Assert.Equal(Digest3, parsed.Subject?.Digest.ToString());
        Assert.Equal([Digest1, Digest2], parsed.RequiredBlobs.Select(b => b.Digest.ToString()));
        Assert.Equal("sbom", parsed.Annotations["org.example.kind"]);
    }

    [Theory]
    [InlineData("not json", "not JSON")]
    [InlineData("[]", "JSON object")]
    [InlineData("""{"schemaVersion":1}""", "schemaVersion must be 2")]
    public void Bad_manifests_are_refused_saying_why(string json, string expected)
    {
        var error = Assert.Throws<RegistryException>(() => ParsedManifest.Parse(Encoding.UTF8.GetBytes(json), OciManifest));
        Assert.Equal(RegistryError.ManifestInvalid, error.Error);
        Assert.Contains(expected, error.Detail);
    }

    [Fact]
    public void A_content_type_that_contradicts_the_body_is_refused()
    {
        var json = $$$"""{"schemaVersion":2,"mediaType":"{{{OciManifest}}}","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{{{Digest1}}}","size":2},"layers":[]}""";
        var error = Assert.Throws<RegistryException>(() =>
            ParsedManifest.Parse(Encoding.UTF8.GetBytes(json), "application/vnd.docker.distribution.manifest.v2+json"));
        Assert.Equal(RegistryError.ManifestInvalid, error.Error);
        Assert.Contains("does not match", error.Detail);
    }
}
