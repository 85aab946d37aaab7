using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using BuildGrid.Projects.V1;
using Grpc.Net.Client;

namespace BuildGrid.Benchmarks;

/// <summary>
/// The console figures: its projects page (1,000 projects, 50 a page) and a repository's tags page (10,000 tags,
/// 100 a page), each against the REST call that reads the same data in the same run — image-market
/// <c>/api/project/list</c> and OCI <c>/v2/&lt;name&gt;/tags/list</c> — one client at a time, ABBA order; latency
/// percentiles and the page's transfer size.
/// </summary>
public static partial class ConsoleBenchmark
{
    [GeneratedRegex("name=\"__csrf\" type=\"hidden\" value=\"(?<token>[^\"]+)\"")]
    private static partial Regex TokenField();

    public static async Task RunAsync(int requests)
    {
        await using var gateway = await GatewayProcess.StartAsync();
        using var channel = GrpcChannel.ForAddress(gateway.GrpcUrl);
        var projects = new BuildGrid.Projects.V1.Projects.ProjectsClient(channel);
        var seed = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, 1000), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, ct) =>
            await projects.CreateProjectAsync(new CreateProjectRequest { Name = $"bench-{i:D4}", Cluster = "bench" }, cancellationToken: ct));
        using var rest = new HttpClient { BaseAddress = gateway.RestUrl };
        await PushTagsAsync(rest, "bench/tags", 10_000);
        Console.WriteLine($"seeded 1,000 projects and 10,000 tags in {seed.Elapsed.TotalSeconds:F0} s");

        // A console session: protected mode's "continue as the local admin".
        var cookies = new CookieContainer();
        using var console = new HttpClient(new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false }) { BaseAddress = gateway.RestUrl };
        var signIn = await console.GetStringAsync("/console/signin");
        using (var form = new FormUrlEncodedContent([new("__csrf", TokenField().Match(signIn).Groups["token"].Value)]))
            (await console.PostAsync("/console/signin?handler=Local", form)).EnsureSuccessOrRedirect();

        await CompareAsync("projects page (page 7 of 20)", console, "/console/projects?page=7", rest, "/api/project/list?page=7&page_size=50&operator=admin", requests);
        await CompareAsync("projects page, filtered", console, "/console/projects?q=bench-09", rest, "/api/project/list?projectName=bench-09&page_size=50&operator=admin", requests);
        await CompareAsync("tags page (first 100 of 10,000)", console, "/console/registry/repository?name=bench%2Ftags", rest, "/v2/bench/tags/tags/list?n=100", requests);
    }

    static void EnsureSuccessOrRedirect(this HttpResponseMessage response)
    {
        if (response.StatusCode is not (HttpStatusCode.OK or HttpStatusCode.Redirect))
            throw new InvalidOperationException($"sign-in answered {(int)response.StatusCode}");
    }

    static async Task CompareAsync(string name, HttpClient console, string page, HttpClient rest, string baseline, int requests)
    {
        var (pageA, bytes) = await MeasureAsync(console, page, requests / 2);
        var (restA, restBytes) = await MeasureAsync(rest, baseline, requests / 2);
        var (restB, _) = await MeasureAsync(rest, baseline, requests / 2);
        var (pageB, _) = await MeasureAsync(console, page, requests / 2);
        var pages = pageA.Concat(pageB).Order().ToArray();
        var rests = restA.Concat(restB).Order().ToArray();
        double P(double[] all, double q) => all[Math.Min(all.Length - 1, (int)(all.Length * q))];
        Console.WriteLine($"{name}: console p50 {P(pages, .5):F1} ms p95 {P(pages, .95):F1} ms ({bytes / 1024.0:F1} KiB); " +
                          $"REST p50 {P(rests, .5):F1} ms p95 {P(rests, .95):F1} ms ({restBytes / 1024.0:F1} KiB); p95 ratio {P(pages, .95) / P(rests, .95):F2}");
    }

    static async Task<(double[] Ms, long Bytes)> MeasureAsync(HttpClient http, string path, int requests)
    {
        for (var i = 0; i < 20; i++)
            (await http.GetAsync(path)).Dispose();
        var times = new double[requests];
        long bytes = 0;
        for (var i = 0; i < requests; i++)
        {
            var watch = Stopwatch.StartNew();
            using var response = await http.GetAsync(path);
            var body = await response.Content.ReadAsByteArrayAsync();
            times[i] = watch.Elapsed.TotalMilliseconds;
            if (!response.IsSuccessStatusCode)
                throw new InvalidOperationException($"GET {path}: {(int)response.StatusCode}");
            bytes = body.Length;
        }
        return (times, bytes);
    }

    /// <summary>One small image (a config blob, no layers), tagged <paramref name="count"/> times through /v2/.</summary>
    static async Task PushTagsAsync(HttpClient http, string repository, int count)
    {
        var config = Encoding.UTF8.GetBytes("""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}""");
        var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(config));
        using (var blob = new ByteArrayContent(config))
        {
            blob.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            var upload = await http.PostAsync($"/v2/{repository}/blobs/uploads/?digest={digest}", blob);
            if (upload.StatusCode != HttpStatusCode.Created)
                throw new InvalidOperationException($"config upload: {(int)upload.StatusCode} {await upload.Content.ReadAsStringAsync()}");
        }
        var manifest = $$"""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{{digest}}","size":{{config.Length}}},"layers":[]}""";
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, ct) =>
        {
            using var content = new StringContent(manifest);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/vnd.oci.image.manifest.v1+json");
            using var put = await http.PutAsync($"/v2/{repository}/manifests/t{i:D5}", content, ct);
            if (put.StatusCode != HttpStatusCode.Created)
                throw new InvalidOperationException($"manifest t{i}: {(int)put.StatusCode}");
        });
    }
}
