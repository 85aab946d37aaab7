using BuildGrid.Projects.Domain;
using Grpc.Core;

namespace BuildGrid.Unit.Tests;

/// <summary>Project names (the image market's 10001 special-character rule) and build-context git URLs and refs.</summary>
public sealed class ProjectRulesTests
{
    [Theory]
    [InlineData("web")]
    [InlineData("my.web_app-2")]
    [InlineData("a__b")]
    public void Good_names_pass(string name) => ProjectRules.ValidateName(name, "name");

    [Theory]
    [InlineData("we*b", "special char: *")]
    [InlineData("tab\tname", "special char: U+0009")]
    [InlineData("-web", "must start and end")]
    [InlineData("web.", "must start and end")]
    public void Bad_names_say_why(string name, string expected)
    {
        var error = Assert.Throws<RpcException>(() => ProjectRules.ValidateName(name, "name"));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains(expected, error.Status.Detail);
    }

    [Fact]
    public void A_name_of_65_characters_is_too_long() =>
        Assert.Contains("longer than", Assert.Throws<RpcException>(() => ProjectRules.ValidateName(new string('a', 65), "name")).Status.Detail);

    [Theory]
    [InlineData("https://git.example/team/app.git", null)]
    [InlineData("git@git.example:team/app.git", null)]
    [InlineData("ssh://git@git.example/team/app.git", null)]
    [InlineData("file:///srv/git/app.git", "local paths and file:// are refused")]
    [InlineData("/srv/git/app.git", "not a remote git URL")]
    [InlineData("--upload-pack=touch /tmp/x", "not starting with '-'")]
    public void Git_urls_must_be_remote(string url, string? problem)
    {
        var answer = ProjectRules.GitUrlProblem(url);
        if (problem is null)
            Assert.Null(answer);
        else
            Assert.Contains(problem, answer);
    }

    [Theory]
    [InlineData("https://git.example:8443/team/app.git", "git.example")]
    [InlineData("git@10.0.0.7:team/app.git", "10.0.0.7")]
    [InlineData("git://127.0.0.1:9418/app.git", "127.0.0.1")]
    public void The_host_a_git_url_dials_is_what_the_download_policy_checks(string url, string host) =>
        Assert.Equal(host, ProjectRules.GitRemote(url)?.IdnHost);

    [Theory]
    [InlineData("main", true)]
    [InlineData("release/1.2", true)]
    [InlineData("v1..2", false)]
    [InlineData("-x", false)]
    [InlineData("main.lock", false)]
    public void Git_refs(string gitRef, bool good) => Assert.Equal(good, ProjectRules.GitRefProblem(gitRef) is null);
}
