using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace BuildGrid.Registry.Notifications;

/// <summary>
/// The events and methods of repository notifications and Quay's payload for each (notifications/notificationevent.py):
/// the base event_data {repository, namespace, name, docker_url, homepage} plus the event's own fields.
/// </summary>
public static class NotificationEvents
{
    public const string RepoPush = "repo_push";
    public const string BuildQueued = "build_queued";
    public const string BuildStart = "build_start";
    public const string BuildSuccess = "build_success";
    public const string BuildFailure = "build_failure";
    public const string BuildCancelled = "build_cancelled";
    public const string RepoTagDeleted = "repo_tag_deleted";

    public static readonly string[] Events = [RepoPush, BuildQueued, BuildStart, BuildSuccess, BuildFailure, BuildCancelled, RepoTagDeleted];

    public const string Webhook = "webhook";
    public const string Slack = "slack";
    public const string QuayNotification = "quay_notification";

    public static readonly string[] Methods = [Webhook, Slack, QuayNotification];

    /// <summary>Quay's level of each event (the Slack colour follows it).</summary>
    public static string LevelOf(string @event) => @event switch
    {
        RepoPush => "primary",
        BuildSuccess => "success",
        BuildFailure => "error",
        _ => "info",
    };

    /// <summary>The base event_data of a repository ("ns/name", or a deeper path whose first component is the namespace).</summary>
    public static JsonObject Base(string repository, string serverHostname, string? buildId = null)
    {
        var slash = repository.IndexOf('/');
        var (ns, name) = slash > 0 ? (repository[..slash], repository[(slash + 1)..]) : ("", repository);
        return new JsonObject
        {
            ["repository"] = repository,
            ["namespace"] = ns,
            ["name"] = name,
            ["docker_url"] = $"{serverHostname}/{repository}",
            ["homepage"] = $"http://{serverHostname}/repository/{repository}" + (buildId is null ? "" : $"/build/{buildId}"),
        };
    }

    public static JsonObject Push(string repository, string serverHostname, IEnumerable<string> tags)
    {
        var data = Base(repository, serverHostname);
        data["updated_tags"] = new JsonArray(tags.Select(t => (JsonNode?)JsonValue.Create(t)).ToArray());
        return data;
    }

    public static JsonObject TagDeleted(string repository, string serverHostname, string tag, string digest)
    {
        var data = Base(repository, serverHostname);
        data["tags"] = new JsonArray(JsonValue.Create(tag));
        data["digest"] = digest;
        return data;
    }

    /// <summary>The build block: build_id, build_name, docker_tags, trigger_kind, trigger_id, trigger_metadata.</summary>
    public static JsonObject Build(string @event, string repository, string serverHostname, string runId, string buildName, string tag,
        string? @ref, string? commit)
    {
        var data = Base(repository, serverHostname, runId);
        data["build_id"] = runId;
        data["build_name"] = buildName;
        data["docker_tags"] = new JsonArray(tag.Length == 0 ? [] : [JsonValue.Create(tag)]);
        data["trigger_kind"] = "";
        data["trigger_id"] = "";
        var metadata = new JsonObject();
        if (@ref is { Length: > 0 }) metadata["ref"] = @ref;
        if (commit is { Length: > 0 }) metadata["commit"] = commit;
        data["trigger_metadata"] = metadata;
        if (@event == BuildQueued)
            data["is_manual"] = true;
        return data;
    }

    /// <summary>Quay's sample data for a test of the event.</summary>
    public static JsonObject Sample(string @event, string repository, string serverHostname) => @event switch
    {
        RepoPush => Push(repository, serverHostname, ["latest", "foo"]),
        RepoTagDeleted => TagDeleted(repository, serverHostname, "latest", "sha256:" + new string('0', 64)),
        _ => WithOutcome(@event, Build(@event, repository, serverHostname, "1a8dbb31-4b58-4e54-b5a8-a0e0e0a4e7d6", "some-fake-build", "latest",
            "refs/heads/main", "42d4a62c53350993ea41069e9f2cfdefb0df097d"), "sha256:" + new string('0', 64), "This is a fake build error"),
    };

    public static JsonObject WithOutcome(string @event, JsonObject data, string digest, string error)
    {
        if (@event is BuildSuccess or BuildCancelled)
            data["image_id"] = digest;
        if (@event == BuildFailure)
            data["error_message"] = error;
        return data;
    }

    /// <summary>
    /// Whether a build event passes the notification's ref-regex (eventConfig "ref-regex"): with a regex set, a build
    /// with no git ref, or a regex that does not compile, fires nothing (as in Quay).
    /// </summary>
    public static bool MatchesRefRegex(string eventConfig, string? @ref)
    {
        using var json = JsonDocument.Parse(eventConfig);
        if (json.RootElement.ValueKind != JsonValueKind.Object || !json.RootElement.TryGetProperty("ref-regex", out var regex)
            || regex.ValueKind != JsonValueKind.String || regex.GetString() is not { Length: > 0 } pattern)
            return true;
        if (string.IsNullOrEmpty(@ref))
            return false;
        try
        {
            return Regex.IsMatch(@ref, pattern, RegexOptions.None, TimeSpan.FromMilliseconds(100));
        }
        catch (Exception e) when (e is ArgumentException or RegexMatchTimeoutException)
        {
            return false;
        }
    }

    /// <summary>A Slack incoming-webhook body for an event_data (what Quay's SlackMethod posts, in short).</summary>
    public static string SlackBody(string @event, JsonObject data)
    {
        var repository = data["repository"]?.GetValue<string>() ?? "";
        var homepage = data["homepage"]?.GetValue<string>() ?? "";
        var summary = @event switch
        {
            RepoPush => $"Repository {repository} has been pushed with tags {Tags(data["updated_tags"])}",
            RepoTagDeleted => $"Tags {Tags(data["tags"])} were deleted from repository {repository}",
            BuildQueued => $"A build has been queued for repository {repository}",
            BuildStart => $"A build has been started for repository {repository}",
            BuildSuccess => $"A build has succeeded for repository {repository}",
            BuildFailure => $"A build has failed for repository {repository}: {data["error_message"]?.GetValue<string>()}",
            BuildCancelled => $"A build was cancelled for repository {repository}",
            _ => $"{@event} for repository {repository}",
        };
        var color = LevelOf(@event) switch { "success" => "good", "error" => "danger", "primary" => "#0086d1", _ => "#999999" };
        var text = $"<{homepage}|{summary}>";
        return new JsonObject
        {
            ["username"] = "BuildGrid",
            ["text"] = text,
            ["attachments"] = new JsonArray(new JsonObject
            {
                ["fallback"] = summary, ["text"] = text, ["color"] = color, ["mrkdwn_in"] = new JsonArray("text"),
            }),
        }.ToJsonString();
    }

    static string Tags(JsonNode? tags) => tags is JsonArray array ? string.Join(", ", array.Select(t => t?.GetValue<string>())) : "";
}
