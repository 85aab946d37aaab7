using System.Globalization;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using BuildGrid.Tests.Infrastructure;
using k8s;
using k8s.Models;

namespace BuildGrid.Tests.Operations;

/// <summary>
/// The Kubernetes layout as <c>kubectl kustomize dapr/kubernetes</c> renders it (a real kubectl, no cluster), every
/// object read strictly into the Kubernetes models of KubernetesClient (an unknown field or a wrong type fails), and
/// the rules a deployable layout keeps: every Secret and key a pod or component names is generated, every placeholder
/// is CHANGE-ME, every container is non-root with a read-only root, limits and the three probes, ReadWriteOnce volumes
/// are never rolled, the builds grace outlasts Builds__ShutdownGrace, every image has a Containerfile, and each Dapr app
/// is declared grpc on its gRPC port. The validator is shown to fail on a broken manifest too.
/// </summary>
public sealed class KubernetesManifestTests
{
    static readonly Dictionary<string, Type> DaprKinds = new()
    {
        ["dapr.io/v1alpha1/Component"] = typeof(DaprComponent),
        ["dapr.io/v1alpha1/Resiliency"] = typeof(DaprResiliency),
    };

    static async Task<string> RenderAsync() =>
        await Tools.RunOkAsync(Tools.Require("kubectl", "kubernetes-client"), TestDirectories.RepositoryRoot, "kustomize", "dapr/kubernetes");

    static List<object> Load(string rendered) => KubernetesYaml.LoadAllFromString(rendered, DaprKinds, strict: true);

    [Fact]
    public async Task Every_rendered_object_is_a_valid_Kubernetes_object_of_a_deployable_layout()
    {
        var objects = Load(await RenderAsync());
        var secrets = objects.OfType<V1Secret>().ToDictionary(s => s.Metadata.Name, s => s.Data ?? new Dictionary<string, byte[]>());
        Assert.Equal(["buildgrid-admin", "buildgrid-app-api-token", "buildgrid-redis", "buildgrid-service-key", "buildgrid-sql"], secrets.Keys.Order());
        foreach (var (name, data) in secrets)
            foreach (var (key, value) in data)
                Assert.True(System.Text.Encoding.UTF8.GetString(value).Contains("CHANGE-ME", StringComparison.Ordinal), $"{name}/{key} is not a CHANGE-ME placeholder");
        void SecretExists(string? name, string? key, string where) =>
            Assert.True(name is not null && key is not null && secrets.TryGetValue(name, out var data) && data.ContainsKey(key), $"{where}: secret {name}/{key} is not generated");

        var services = objects.OfType<V1Service>().Select(s => s.Metadata.Name).ToHashSet();
        Assert.Contains("redis", services);
        Assert.Contains("buildgrid-postgres", services);
        var workloads = objects.OfType<V1Deployment>().Select(d => (d.Metadata.Name, d.Spec.Template, Kind: "Deployment"))
            .Concat(objects.OfType<V1StatefulSet>().Select(s => (s.Metadata.Name, s.Spec.Template, Kind: "StatefulSet"))).ToList();
        Assert.Equal(7, workloads.Count);
        var claims = objects.OfType<V1PersistentVolumeClaim>().Where(c => c.Spec.AccessModes.Contains("ReadWriteOnce")).Select(c => c.Metadata.Name).ToHashSet();
        foreach (var (name, template, kind) in workloads)
        {
            var pod = template.Spec;
            Assert.True(pod.SecurityContext?.RunAsNonRoot == true, $"{name}: runAsNonRoot");
            // The builds pod's sandbox (bubblewrap) creates a user namespace per run, which RuntimeDefault forbids without
            // CAP_SYS_ADMIN (dapr/kubernetes/README.md, "Build sandbox"); every other pod keeps the runtime's profile.
            Assert.Equal(name == "buildgrid-builds" ? "Unconfined" : "RuntimeDefault", pod.SecurityContext?.SeccompProfile?.Type);
            foreach (var container in pod.Containers)
            {
                var where = $"{name}/{container.Name}";
                Assert.True(container.SecurityContext is { ReadOnlyRootFilesystem: true, AllowPrivilegeEscalation: false }, $"{where}: read-only root, no privilege escalation");
                Assert.Contains("ALL", container.SecurityContext!.Capabilities!.Drop);
                Assert.True(container.Resources?.Requests?.ContainsKey("memory") == true && container.Resources.Limits?.ContainsKey("memory") == true
                    && container.Resources.Limits.ContainsKey("cpu"), $"{where}: requests and limits");
                Assert.True(container.ReadinessProbe is not null && container.LivenessProbe is not null, $"{where}: probes");
                foreach (var env in container.Env ?? [])
                    if (env.ValueFrom?.SecretKeyRef is { } reference)
                        SecretExists(reference.Name, reference.Key, $"{where} env {env.Name}");
                Assert.Contains(container.VolumeMounts ?? [], m => m.MountPath == "/tmp");
            }
            if (!name.StartsWith("buildgrid-", StringComparison.Ordinal))
                continue;
            // BuildGrid's own processes: their image, their probes, their Dapr annotations.
            var app = name["buildgrid-".Length..];
            var main = Assert.Single(pod.Containers);
            Assert.Equal($"buildgrid/{app}:latest", main.Image);
            var containerfile = Path.Combine(TestDirectories.RepositoryRoot, app == "gateway" ? "gateway/BuildGrid.Gateway" : $"services/BuildGrid.{char.ToUpperInvariant(app[0])}{app[1..]}", "Containerfile");
            Assert.True(File.Exists(containerfile), $"{name}: {containerfile} builds its image");
            Assert.Equal("/readyz", main.ReadinessProbe.HttpGet?.Path);
            Assert.Equal("/healthz", main.LivenessProbe.HttpGet?.Path);
            Assert.Equal("/healthz", main.StartupProbe?.HttpGet?.Path);
            var annotations = template.Metadata.Annotations;
            Assert.Equal("grpc", annotations["dapr.io/app-protocol"]);
            var grpcPort = main.Ports.Single(p => p.Name == "grpc").ContainerPort;
            Assert.Equal(grpcPort.ToString(CultureInfo.InvariantCulture), annotations["dapr.io/app-port"]);
            Assert.Equal(grpcPort.ToString(CultureInfo.InvariantCulture), main.Env.Single(e => e.Name == "APP_PORT").Value);
            SecretExists(annotations["dapr.io/app-token-secret"], "token", $"{name} dapr.io/app-token-secret");
            Assert.Equal("postgres", main.Env.Single(e => e.Name == "BUILDGRID_SQL_PROVIDER").Value);
        }
        foreach (var deployment in objects.OfType<V1Deployment>())
        {
            var usesClaim = deployment.Spec.Template.Spec.Volumes?.Any(v => v.PersistentVolumeClaim is { } c && claims.Contains(c.ClaimName)) == true;
            if (usesClaim)
                Assert.True(deployment.Spec.Strategy?.Type == "Recreate", $"{deployment.Metadata.Name} mounts a ReadWriteOnce claim: Recreate, never rolled");
        }
        var builds = objects.OfType<V1Deployment>().Single(d => d.Metadata.Name == "buildgrid-builds");
        var grace = TimeSpan.Parse(builds.Spec.Template.Spec.Containers[0].Env.Single(e => e.Name == "Builds__ShutdownGrace").Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(builds.Spec.Template.Spec.TerminationGracePeriodSeconds!.Value, (long)grace.TotalSeconds + 5, (long)grace.TotalSeconds + 30);
        Assert.Equal("builds", builds.Spec.Template.Metadata.Annotations["dapr.io/app-id"]);

        foreach (var component in objects.OfType<DaprComponent>())
        {
            Assert.NotEmpty(component.Scopes ?? []);
            foreach (var item in component.Spec.Metadata ?? [])
                if (item.SecretKeyRef is { } reference)
                    SecretExists(reference.Name, reference.Key, $"component {component.Metadata.Name} {item.Name}");
        }
        Assert.Single(objects.OfType<DaprResiliency>());
    }

    [Fact]
    public async Task The_validator_refuses_a_misspelt_field_and_a_wrong_type()
    {
        var rendered = await RenderAsync();
        Load(rendered);
        var port = rendered.IndexOf("containerPort:", StringComparison.Ordinal);
        Assert.ThrowsAny<Exception>(() => Load(string.Concat(rendered.AsSpan(0, port), "containerport:", rendered.AsSpan(port + "containerPort:".Length))));
        Assert.ThrowsAny<Exception>(() => Load(Regex.Replace(rendered, @"replicas: \d+", "replicas: two", RegexOptions.None, TimeSpan.FromSeconds(1))));
    }

    /// <summary>Dapr's Component (components.dapr.io, v1alpha1), the fields its CRD defines.</summary>
    public sealed class DaprComponent : IKubernetesObject<V1ObjectMeta>
    {
        [JsonPropertyName("apiVersion")] public string ApiVersion { get; set; } = "";
        [JsonPropertyName("kind")] public string Kind { get; set; } = "";
        [JsonPropertyName("metadata")] public V1ObjectMeta Metadata { get; set; } = new();
        [JsonPropertyName("spec")] public ComponentSpec Spec { get; set; } = new();
        [JsonPropertyName("auth")] public ComponentAuth? Auth { get; set; }
        [JsonPropertyName("scopes")] public List<string>? Scopes { get; set; }
    }

    public sealed class ComponentSpec
    {
        [JsonPropertyName("type")] public string Type { get; set; } = "";
        [JsonPropertyName("version")] public string Version { get; set; } = "";
        [JsonPropertyName("ignoreErrors")] public bool? IgnoreErrors { get; set; }
        [JsonPropertyName("initTimeout")] public string? InitTimeout { get; set; }
        [JsonPropertyName("metadata")] public List<ComponentMetadata>? Metadata { get; set; }
    }

    public sealed class ComponentMetadata
    {
        [JsonPropertyName("name")] public string Name { get; set; } = "";
        [JsonPropertyName("value")] public string? Value { get; set; }
        [JsonPropertyName("secretKeyRef")] public V1SecretKeySelector? SecretKeyRef { get; set; }
    }

    public sealed class ComponentAuth
    {
        [JsonPropertyName("secretStore")] public string SecretStore { get; set; } = "";
    }

    /// <summary>Dapr's Resiliency (resiliency.dapr.io, v1alpha1); its policies are read as data.</summary>
    public sealed class DaprResiliency : IKubernetesObject<V1ObjectMeta>
    {
        [JsonPropertyName("apiVersion")] public string ApiVersion { get; set; } = "";
        [JsonPropertyName("kind")] public string Kind { get; set; } = "";
        [JsonPropertyName("metadata")] public V1ObjectMeta Metadata { get; set; } = new();
        [JsonPropertyName("spec")] public Dictionary<string, object>? Spec { get; set; }
        [JsonPropertyName("scopes")] public List<string>? Scopes { get; set; }
    }
}
