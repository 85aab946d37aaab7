using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using BuildGrid.Tests.Infrastructure;
using BuildGrid.Tests.Registry;
using Grpc.Net.Client;
using RegistryClient = BuildGrid.Registry.V1.Registry.RegistryClient;
using V1 = BuildGrid.Registry.V1;
using WellKnown = Google.Protobuf.WellKnownTypes;

namespace BuildGrid.Tests.Quay;

/// <summary>
/// Repository notifications of seed 003: the calls and statuses, real deliveries to a listener on 127.0.0.1 for a push
/// and a tag delete, the 3-failure disable and reset, and SSRF refusal.
/// </summary>
[Collection(StandaloneCollection.Name)]
public sealed class QuayNotificationTests(StandaloneFixture fixture) : IDisposable
{
    public void Dispose() => fixture.AssertNoErrorsLogged();

    QuayApi Api => new(fixture.Rest);
    static string Unique(string prefix) => prefix + Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public async Task Create_get_list_test_reset_delete_as_documented()
    {
        var repository = await Api.CreateRepositoryAsync(Unique("qn"), "app");
        var created = await Api.ExpectAsync(HttpStatusCode.Created, HttpMethod.Post, $"/api/v1/repository/{repository}/notification/",
            """{"event": "repo_push", "method": "quay_notification", "config": {"target": {"name": "quayadmin", "kind": "user"}}, "eventConfig": {}}""");
        var uuid = created.GetProperty("uuid").GetString()!;
        Assert.True(Guid.TryParse(uuid, out _));
        var got = await Api.NotificationAsync(repository, uuid);
        Assert.Equal(JsonValueKind.Null, got.GetProperty("title").ValueKind);
        Assert.Equal("repo_push", got.GetProperty("event").GetString());
        Assert.Equal("quay_notification", got.GetProperty("method").GetString());
        Assert.Equal("quayadmin", got.GetProperty("config").GetProperty("target").GetProperty("name").GetString());
        Assert.Equal("{}", got.GetProperty("event_config").GetRawText());
        Assert.Equal(0, got.GetProperty("number_of_failures").GetInt32());
        Assert.True(got.GetProperty("enabled").GetBoolean());

        // The list, with and without the trailing slash.
        foreach (var path in new[] { $"/api/v1/repository/{repository}/notification", $"/api/v1/repository/{repository}/notification/" })
        {
            var list = await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, path);
            Assert.Equal(uuid, Assert.Single(list.GetProperty("notifications").EnumerateArray()).GetProperty("uuid").GetString());
        }

        // A titled one; test answers {} and (quay_notification) stores the sample, readable through the API.
        var titled = await Api.ExpectAsync(HttpStatusCode.Created, HttpMethod.Post, $"/api/v1/repository/{repository}/notification/",
            new { @event = "build_failure", method = "quay_notification", config = new { target = new { name = "quayadmin", kind = "user" } }, eventConfig = new { }, title = "Builds broke" });
        Assert.Equal("Builds broke", titled.GetProperty("title").GetString());
        Assert.Equal("{}", (await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Post, $"/api/v1/repository/{repository}/notification/{uuid}/test")).GetRawText());
        var stored = await QuayApi.EventuallyAsync(() => Api.DeliveriesAsync(repository, uuid),
            d => d.GetArrayLength() == 1 && d[0].GetProperty("state").GetString() == "delivered");
        Assert.Equal(repository, stored[0].GetProperty("payload").GetProperty("repository").GetString());
        Assert.Equal(["latest", "foo"], stored[0].GetProperty("payload").GetProperty("updated_tags").EnumerateArray().Select(t => t.GetString()));

        // Reset: 204 empty; delete: 204 empty, then GET 404 and the others 400 as Quay answers.
        await AssertNoContentAsync(HttpMethod.Post, $"/api/v1/repository/{repository}/notification/{uuid}");
        await AssertNoContentAsync(HttpMethod.Delete, $"/api/v1/repository/{repository}/notification/{uuid}");
        var missing = await Api.ExpectAsync(HttpStatusCode.NotFound, HttpMethod.Get, $"/api/v1/repository/{repository}/notification/{uuid}");
        Assert.Equal("not_found", missing.GetProperty("error_type").GetString());
        var (ns, name) = (repository.Split('/')[0], repository.Split('/')[1]);
        foreach (var (method, path) in new[] { (HttpMethod.Delete, ""), (HttpMethod.Post, ""), (HttpMethod.Post, "/test") })
        {
            var error = await Api.ExpectAsync(HttpStatusCode.BadRequest, method, $"/api/v1/repository/{repository}/notification/{uuid}{path}");
            Assert.Equal($"No repository notification found for: {ns}, {name}, {uuid}", error.GetProperty("error_message").GetString());
            Assert.Equal("invalid_request", error.GetProperty("error_type").GetString());
        }
        // A uuid of another repository is not found here either.
        var other = await Api.CreateRepositoryAsync(Unique("qo"), "app");
        await Api.ExpectAsync(HttpStatusCode.NotFound, HttpMethod.Get, $"/api/v1/repository/{other}/notification/{titled.GetProperty("uuid").GetString()}");
        Assert.Single((await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Get, $"/api/v1/repository/{repository}/notification")).GetProperty("notifications").EnumerateArray());
    }

    [Fact]
    public async Task Bad_events_methods_and_configs_are_400_naming_the_allowed_values()
    {
        var repository = await Api.CreateRepositoryAsync(Unique("qb"), "app");
        var path = $"/api/v1/repository/{repository}/notification/";
        var error = await Api.ExpectAsync(HttpStatusCode.BadRequest, HttpMethod.Post, path,
            new { @event = "vulnerability_found", method = "webhook", config = new { url = "http://example.com/" }, eventConfig = new { } });
        Assert.Equal("Unknown event 'vulnerability_found'; allowed: repo_push, build_queued, build_start, build_success, build_failure, build_cancelled, repo_tag_deleted",
            error.GetProperty("detail").GetString());
        error = await Api.ExpectAsync(HttpStatusCode.BadRequest, HttpMethod.Post, path,
            new { @event = "repo_push", method = "email", config = new { email = "a@b.c" }, eventConfig = new { } });
        Assert.Equal("Unknown method 'email'; allowed: webhook, slack, quay_notification", error.GetProperty("detail").GetString());
        error = await Api.ExpectAsync(HttpStatusCode.BadRequest, HttpMethod.Post, path, new { @event = "repo_push", method = "webhook", config = new { }, eventConfig = new { } });
        Assert.Equal("Missing webhook URL", error.GetProperty("detail").GetString());
        error = await Api.ExpectAsync(HttpStatusCode.BadRequest, HttpMethod.Post, path,
            new { @event = "repo_push", method = "slack", config = new { url = "ftp://example.com/x" }, eventConfig = new { } });
        Assert.Equal("Invalid webhook URL", error.GetProperty("detail").GetString());
        error = await Api.ExpectAsync(HttpStatusCode.BadRequest, HttpMethod.Post, path, new { @event = "repo_push", method = "webhook", config = new { url = "http://example.com/" } });
        Assert.Equal("'eventConfig' is a required property", error.GetProperty("detail").GetString());
        error = await Api.ExpectAsync(HttpStatusCode.BadRequest, HttpMethod.Post, path,
            new { @event = "repo_push", method = "quay_notification", config = new { target = new { name = "quayadmin", kind = "user" } }, eventConfig = new { }, title = 5 });
        Assert.Equal("'title' is not of type 'string'", error.GetProperty("detail").GetString());
        // Quay's QuayNotificationMethod.validate: quay_notification needs a target with a kind.
        foreach (var config in new object[] { new { }, new { target = new { name = "quayadmin" } }, new { target = "quayadmin" } })
        {
            error = await Api.ExpectAsync(HttpStatusCode.BadRequest, HttpMethod.Post, path, new { @event = "repo_push", method = "quay_notification", config, eventConfig = new { } });
            Assert.Equal("Missing target", error.GetProperty("detail").GetString());
        }
        Assert.Equal("Not Found", (await Api.ExpectAsync(HttpStatusCode.NotFound, HttpMethod.Post, $"/api/v1/repository/{Unique("nx")}/app/notification/",
            new { @event = "repo_push", method = "quay_notification", config = new { }, eventConfig = new { } })).GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Webhook_targets_on_link_local_and_metadata_addresses_are_refused()
    {
        var repository = await Api.CreateRepositoryAsync(Unique("qs"), "app");
        foreach (var url in new[] { "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/latest/", "http://[fe80::1]/", "http://0.0.0.0:80/",
                     "http://127.0.0.2/",
                     // The metadata address inside IPv6: mapped, NAT64, IPv4-compatible, 6to4.
                     "http://[::ffff:169.254.169.254]/", "http://[64:ff9b::a9fe:a9fe]/", "http://[::a9fe:a9fe]/", "http://[2002:a9fe:a9fe::1]/" })
        {
            var error = await Api.ExpectAsync(HttpStatusCode.BadRequest, HttpMethod.Post, $"/api/v1/repository/{repository}/notification/",
                new { @event = "repo_push", method = "webhook", config = new { url }, eventConfig = new { } });
            Assert.StartsWith("Invalid webhook URL: the address", error.GetProperty("detail").GetString());
        }
    }

    [Fact]
    public async Task Webhook_targets_on_this_hosts_own_interface_addresses_are_refused()
    {
        // A service bound to 0.0.0.0 answers on every address of the host, not only on 127.0.0.1.
        var own = System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .SelectMany(i => i.GetIPProperties().UnicastAddresses.Select(u => u.Address))
            .Where(a => !IPAddress.IsLoopback(a) && !a.IsIPv6LinkLocal).ToList();
        Assert.NotEmpty(own);
        var repository = await Api.CreateRepositoryAsync(Unique("qo"), "app");
        foreach (var address in own)
        {
            var url = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"http://[{address}]:9/" : $"http://{address}:9/";
            var error = await Api.ExpectAsync(HttpStatusCode.BadRequest, HttpMethod.Post, $"/api/v1/repository/{repository}/notification/",
                new { @event = "repo_push", method = "webhook", config = new { url }, eventConfig = new { } });
            Assert.Contains("an address of this host", error.GetProperty("detail").GetString());
        }
    }

    [Fact]
    public async Task A_real_push_and_a_tag_delete_are_delivered_as_webhooks_and_slack_messages()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var repository = await Api.CreateRepositoryAsync(Unique("qw"), "web");
        await Api.CreateNotificationAsync(repository, "repo_push", "webhook", new { url = receiver.Hook("push") });
        await Api.CreateNotificationAsync(repository, "repo_tag_deleted", "webhook", new { url = receiver.Hook("deleted") });
        await Api.CreateNotificationAsync(repository, "repo_push", "slack", new { url = receiver.Hook("slack") });

        var image = OciTestImage.Create("webhook " + repository);
        await new V2Client(fixture.Rest).PushImageAsync(repository, "2.0", image);
        var push = await Eventually.Async(() => receiver.BodiesAt("push").ToList(), b => b.Count > 0);
        var body = Assert.Single(push);
        var (ns, name) = (repository.Split('/')[0], repository.Split('/')[1]);
        Assert.Equal(repository, body.GetProperty("repository").GetString());
        Assert.Equal(ns, body.GetProperty("namespace").GetString());
        Assert.Equal(name, body.GetProperty("name").GetString());
        Assert.Equal($"localhost/{repository}", body.GetProperty("docker_url").GetString());
        Assert.Equal(["2.0"], body.GetProperty("updated_tags").EnumerateArray().Select(t => t.GetString()));
        var slack = Assert.Single(await Eventually.Async(() => receiver.BodiesAt("slack").ToList(), b => b.Count > 0));
        Assert.Contains($"Repository {repository} has been pushed with tags 2.0", slack.GetProperty("text").GetString());
        Assert.Equal("#0086d1", slack.GetProperty("attachments")[0].GetProperty("color").GetString());

        var registry = new BuildGrid.Registry.V1.Registry.RegistryClient(fixture.Channel);
        await registry.DeleteTagAsync(new() { Repository = repository, Tag = "2.0" }, cancellationToken: TestContext.Current.CancellationToken);
        var deleted = Assert.Single(await Eventually.Async(() => receiver.BodiesAt("deleted").ToList(), b => b.Count > 0));
        Assert.Equal(["2.0"], deleted.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
        Assert.Equal(image.Manifest.Digest, deleted.GetProperty("digest").GetString());
        Assert.Single(receiver.BodiesAt("push"));
    }

    [Fact]
    public async Task Three_failures_disable_a_notification_and_reset_enables_it()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Status = 500;
        var repository = await Api.CreateRepositoryAsync(Unique("qf"), "web");
        var uuid = await Api.CreateNotificationAsync(repository, "repo_push", "webhook", new { url = receiver.Hook("failing") });
        await new V2Client(fixture.Rest).PushImageAsync(repository, "1", OciTestImage.Create("failing " + repository));

        var disabled = await QuayApi.EventuallyAsync(() => Api.NotificationAsync(repository, uuid), n => n.GetProperty("number_of_failures").GetInt32() == 3);
        Assert.False(disabled.GetProperty("enabled").GetBoolean());
        Assert.Equal("the target answered 500 Internal Server Error", disabled.GetProperty("last_error").GetString());
        var deliveries = await Api.DeliveriesAsync(repository, uuid);
        Assert.Equal("abandoned", deliveries[0].GetProperty("state").GetString());
        Assert.Equal(3, deliveries[0].GetProperty("attempts").GetInt32());
        Assert.Equal(3, receiver.Calls);
        // Retried with jittered backoff: never sooner than InitialBackoff (200 ms on this host) after a failure.
        var times = receiver.CallTimes.ToArray();
        Assert.True(times[1] - times[0] >= TimeSpan.FromMilliseconds(195), $"first retry after {(times[1] - times[0]).TotalMilliseconds} ms");
        Assert.True(times[2] - times[1] >= TimeSpan.FromMilliseconds(195), $"second retry after {(times[2] - times[1]).TotalMilliseconds} ms");

        // Disabled: a test is dropped, as Quay's worker drops it; nothing reaches the target.
        receiver.Status = 200;
        await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Post, $"/api/v1/repository/{repository}/notification/{uuid}/test");
        await QuayApi.EventuallyAsync(() => Api.DeliveriesAsync(repository, uuid), d => d[0].GetProperty("state").GetString() == "abandoned" && d.GetArrayLength() == 2);
        Assert.Equal(3, receiver.Calls);

        // Reset: enabled again; the next test is delivered.
        using (var response = await fixture.Rest.PostAsync($"/api/v1/repository/{repository}/notification/{uuid}", null, TestContext.Current.CancellationToken))
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        var reset = await Api.NotificationAsync(repository, uuid);
        Assert.Equal(0, reset.GetProperty("number_of_failures").GetInt32());
        Assert.True(reset.GetProperty("enabled").GetBoolean());
        await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Post, $"/api/v1/repository/{repository}/notification/{uuid}/test");
        var sample = Assert.Single(await Eventually.Async(() => receiver.BodiesAt("failing").ToList(), b => b.Count > 0));
        Assert.Equal(repository, sample.GetProperty("repository").GetString());
    }

    /// <summary>
    /// Deliveries listed together with the one whose failure disables the notification are not sent: the sender reads
    /// the failure count afresh for each.
    /// </summary>
    [Fact]
    public async Task Deliveries_queued_behind_the_third_failure_are_not_sent()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Status = 500;
        receiver.Delay = TimeSpan.FromMilliseconds(500);
        var repository = await Api.CreateRepositoryAsync(Unique("qq"), "web");
        var uuid = await Api.CreateNotificationAsync(repository, "repo_push", "webhook", new { url = receiver.Hook("queued") });
        var test = $"/api/v1/repository/{repository}/notification/{uuid}/test";
        // While the first delivery is in flight (the target answers slowly), five more are queued: the sender lists them
        // at once, before any of them has failed.
        await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Post, test);
        await Eventually.Async(() => receiver.Calls, calls => calls == 1);
        for (var i = 0; i < 5; i++)
            await Api.ExpectAsync(HttpStatusCode.OK, HttpMethod.Post, test);

        var deliveries = await QuayApi.EventuallyAsync(() => Api.DeliveriesAsync(repository, uuid),
            d => d.GetArrayLength() == 6 && d.EnumerateArray().All(x => x.GetProperty("state").GetString() == "abandoned"), 30_000);
        Assert.Equal(3, receiver.Calls);
        var disabled = await Api.NotificationAsync(repository, uuid);
        Assert.Equal(3, disabled.GetProperty("number_of_failures").GetInt32());
        Assert.False(disabled.GetProperty("enabled").GetBoolean());
        Assert.Equal(3, deliveries.EnumerateArray().Sum(d => d.GetProperty("attempts").GetInt32()));
    }

    [Fact]
    public async Task A_build_of_the_repository_image_notifies_queued_start_and_failure()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var repository = await Api.CreateRepositoryAsync(Unique("qc"), "app");
        await Api.CreateNotificationAsync(repository, "build_queued", "webhook", new { url = receiver.Hook("queued") });
        await Api.CreateNotificationAsync(repository, "build_start", "webhook", new { url = receiver.Hook("start") });
        await Api.CreateNotificationAsync(repository, "build_failure", "webhook", new { url = receiver.Hook("failure") });
        // A ref-regex that the run (no git ref) cannot match: it fires nothing, as in Quay.
        await Api.CreateNotificationAsync(repository, "build_failure", "webhook", new { url = receiver.Hook("release") }, new Dictionary<string, string> { ["ref-regex"] = "^refs/heads/release" });
        await Api.CreateNotificationAsync(repository, "build_success", "webhook", new { url = receiver.Hook("success") });

        // A real run: its script fails before the image is built, so BuildFinished is "failed" with the run's image.
        var runs = new BuildGrid.Builds.V1.BuildRuns.BuildRunsClient(fixture.Channel);
        var spec = Runs.Script("exit 3");
        spec.DockerBuild = new BuildGrid.Builds.V1.DockerBuild { Image = repository + ":7.1", DockerfileContent = "FROM scratch\n", Context = "." };
        var run = await runs.StartRunAsync(new BuildGrid.Builds.V1.StartRunRequest { Spec = spec, Definition = "app-build" }, cancellationToken: TestContext.Current.CancellationToken);
        await Runs.FinishedAsync(runs, run.Id);

        var failure = Assert.Single(await Eventually.Async(() => receiver.BodiesAt("failure").ToList(), b => b.Count > 0, 20_000));
        Assert.Equal(run.Id, failure.GetProperty("build_id").GetString());
        Assert.Equal(["7.1"], failure.GetProperty("docker_tags").EnumerateArray().Select(t => t.GetString()));
        Assert.Equal(repository, failure.GetProperty("repository").GetString());
        Assert.Equal($"http://localhost/repository/{repository}/build/{run.Id}", failure.GetProperty("homepage").GetString());
        Assert.False(string.IsNullOrEmpty(failure.GetProperty("error_message").GetString()));
        var queued = Assert.Single(await Eventually.Async(() => receiver.BodiesAt("queued").ToList(), b => b.Count > 0));
        Assert.Equal(run.Id, queued.GetProperty("build_id").GetString());
        Assert.True(queued.GetProperty("is_manual").GetBoolean());
        var start = Assert.Single(await Eventually.Async(() => receiver.BodiesAt("start").ToList(), b => b.Count > 0));
        Assert.Equal("app-build", start.GetProperty("build_name").GetString());
        Assert.Empty(receiver.BodiesAt("release"));
        Assert.Empty(receiver.BodiesAt("success"));
    }

    [Fact]
    public async Task A_cancelled_build_notifies_build_cancelled()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var repository = await Api.CreateRepositoryAsync(Unique("qx"), "app");
        await Api.CreateNotificationAsync(repository, "build_cancelled", "webhook", new { url = receiver.Hook("cancelled") });
        await Api.CreateNotificationAsync(repository, "build_failure", "slack", new { url = receiver.Hook("failure") });
        var runs = new BuildGrid.Builds.V1.BuildRuns.BuildRunsClient(fixture.Channel);
        var spec = Runs.Script("sleep 60");
        spec.DockerBuild = new BuildGrid.Builds.V1.DockerBuild { Image = repository + ":c1", DockerfileContent = "FROM scratch\n", Context = "." };
        var run = await runs.StartRunAsync(new BuildGrid.Builds.V1.StartRunRequest { Spec = spec }, cancellationToken: TestContext.Current.CancellationToken);
        await Runs.WaitAsync(runs, run.Id, r => r.State == BuildGrid.Builds.V1.RunState.Running);
        await runs.CancelRunAsync(new BuildGrid.Builds.V1.CancelRunRequest { Id = run.Id }, cancellationToken: TestContext.Current.CancellationToken);
        var cancelled = Assert.Single(await Eventually.Async(() => receiver.BodiesAt("cancelled").ToList(), b => b.Count > 0, 30_000));
        Assert.Equal(run.Id, cancelled.GetProperty("build_id").GetString());
        Assert.True(cancelled.TryGetProperty("image_id", out _));
        Assert.Empty(receiver.BodiesAt("failure"));
    }

    async Task AssertNoContentAsync(HttpMethod method, string path)
    {
        using var response = await fixture.Rest.SendAsync(new HttpRequestMessage(method, path), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
    }
}

/// <summary>Deliveries that must outlive the host, and the default refusal of loopback targets: hosts of their own.</summary>
public sealed class QuayNotificationHostTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_delivery_queued_while_the_target_is_down_is_sent_after_a_restart()
    {
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        string[] settings =
        [
            "--Registry:Notifications:AllowedNetworks:0=127.0.0.1/32",
            "--Registry:Notifications:InitialBackoff=00:00:05",
            "--Registry:Notifications:PollInterval=00:00:00.200",
        ];
        var dataDir = TestDirectories.Create("quay-restart");
        try
        {
            var (app, rest, _) = await StandaloneFixture.StartAsync(dataDir, null, settings);
            string repository, uuid;
            try
            {
                using var http = new HttpClient { BaseAddress = rest };
                var api = new QuayApi(http);
                repository = await api.CreateRepositoryAsync("qr" + Guid.NewGuid().ToString("N")[..8], "app");
                uuid = await api.CreateNotificationAsync(repository, "repo_push", "webhook", new { url = $"http://127.0.0.1:{port}/down" });
                await new V2Client(http).PushImageAsync(repository, "1", OciTestImage.Create("restart " + repository));
                // The target is down: the first attempt fails and a retry is scheduled.
                var failed = await QuayApi.EventuallyAsync(() => api.NotificationAsync(repository, uuid), n => n.GetProperty("number_of_failures").GetInt32() == 1);
                Assert.True(failed.GetProperty("enabled").GetBoolean());
                Assert.Equal("pending", (await api.DeliveriesAsync(repository, uuid))[0].GetProperty("state").GetString());
            }
            finally
            {
                await app.StopAsync(Ct);
                await app.DisposeAsync();
            }

            await using var receiver = await WebhookReceiver.StartAsync(port);
            (app, rest, _) = await StandaloneFixture.StartAsync(dataDir, null, settings);
            try
            {
                using var http = new HttpClient { BaseAddress = rest };
                var api = new QuayApi(http);
                var body = Assert.Single(await Eventually.Async(() => receiver.BodiesAt("down").ToList(), b => b.Count > 0, 20_000));
                Assert.Equal(["1"], body.GetProperty("updated_tags").EnumerateArray().Select(t => t.GetString()));
                var delivered = await QuayApi.EventuallyAsync(() => api.NotificationAsync(repository, uuid), n => n.GetProperty("number_of_failures").GetInt32() == 0);
                Assert.True(delivered.GetProperty("enabled").GetBoolean());
                var delivery = (await api.DeliveriesAsync(repository, uuid))[0];
                Assert.Equal("delivered", delivery.GetProperty("state").GetString());
                Assert.Equal(2, delivery.GetProperty("attempts").GetInt32());
            }
            finally
            {
                await app.StopAsync(Ct);
                await app.DisposeAsync();
            }
        }
        finally
        {
            TestDirectories.TryDelete(dataDir);
        }
    }

    /// <summary>
    /// The Registry as its own process, killed with SIGKILL while it sends a webhook: the delivery it had claimed is
    /// sent once the claim lapses (the send timeout plus 30 s), by the process started next.
    /// </summary>
    [Fact]
    public async Task A_delivery_whose_sender_is_killed_mid_send_is_sent_after_the_restart()
    {
        const string repository = "team/killed";
        var dataDir = TestDirectories.Create("quay-kill");
        var environment = new Dictionary<string, string>
        {
            ["BUILDGRID_DATA_DIR"] = dataDir,
            ["Registry__GcInterval"] = "00:00:00",
            ["Registry__Notifications__AllowedNetworks__0"] = "127.0.0.1/32",
            ["Registry__Notifications__PollInterval"] = "00:00:00.100",
            ["Registry__Notifications__SendTimeout"] = "00:00:05",
        };
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Delay = TimeSpan.FromMinutes(5);   // the first send hangs until the kill cuts it
        try
        {
            V1.NotificationRef reference;
            await using (var first = await ServiceProcess.StartAsync("BuildGrid.Registry", environment))
            {
                using var channel = GrpcChannel.ForAddress(first.GrpcUrl);
                var registry = new RegistryClient(channel);
                await registry.CreateRepositoryAsync(new V1.CreateRepositoryRequest { Name = repository }, cancellationToken: Ct);
                var notification = await registry.CreateNotificationAsync(new V1.CreateNotificationRequest
                {
                    Repository = repository, Event = "repo_push", Method = "webhook",
                    Config = new WellKnown.Struct { Fields = { ["url"] = WellKnown.Value.ForString(receiver.Hook("killed")) } },
                }, cancellationToken: Ct);
                reference = new V1.NotificationRef { Repository = repository, Uuid = notification.Uuid };
                await registry.TestNotificationAsync(reference, cancellationToken: Ct);
                await Eventually.Async(() => receiver.Calls, calls => calls == 1);
                await first.KillAsync();
            }

            receiver.Delay = TimeSpan.Zero;
            await using var second = await ServiceProcess.StartAsync("BuildGrid.Registry", environment);
            using var secondChannel = GrpcChannel.ForAddress(second.GrpcUrl);
            var restarted = new RegistryClient(secondChannel);
            var request = new V1.ListNotificationDeliveriesRequest { Repository = repository, Uuid = reference.Uuid };
            var deliveries = await Eventually.Async(() => restarted.ListNotificationDeliveries(request, cancellationToken: Ct).Deliveries,
                d => d.Count == 1 && d[0].DeliverTime is not null, timeoutMs: 90_000);
            Assert.Equal(1, deliveries[0].Attempts);
            Assert.Equal(2, receiver.Calls);
            Assert.Equal(repository, Assert.Single(receiver.BodiesAt("killed")).GetProperty("repository").GetString());
            Assert.DoesNotContain("fail:", second.Output);
        }
        finally
        {
            TestDirectories.TryDelete(dataDir);
        }
    }

    [Fact]
    public async Task Loopback_targets_are_refused_unless_a_setting_allows_them()
    {
        await using var host = await OwnedHost.StartAsync("quay-ssrf");
        using var http = new HttpClient { BaseAddress = host.RestUrl };
        var api = new QuayApi(http);
        var repository = await api.CreateRepositoryAsync("qd" + Guid.NewGuid().ToString("N")[..8], "app");
        foreach (var url in new[] { "http://127.0.0.1:8080/hook", "http://localhost/hook", "http://[::1]/hook" })
        {
            var error = await api.ExpectAsync(HttpStatusCode.BadRequest, HttpMethod.Post, $"/api/v1/repository/{repository}/notification/",
                new { @event = "repo_push", method = "webhook", config = new { url }, eventConfig = new { } });
            Assert.Contains("Registry:Notifications:AllowedNetworks", error.GetProperty("detail").GetString());
        }
    }
}
