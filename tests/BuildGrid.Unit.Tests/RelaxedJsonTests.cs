using System.Text.Json.Nodes;
using BuildGrid.Gateway.Dialects;

namespace BuildGrid.Unit.Tests;

/// <summary>The not-quite-JSON the image-market document's curl examples send, read as the gateway reads it.</summary>
public sealed class RelaxedJsonTests
{
    [Fact]
    public void The_save_example_after_a_shell_ate_its_quotes_is_read_member_by_member()
    {
        var node = RelaxedJson.TryParse("{ project:aa Cluster:default addOrUpdate:add }")?.AsObject();
        Assert.NotNull(node);
        Assert.Equal("aa", (string?)node["project"]);
        Assert.Equal("default", (string?)node["Cluster"]);
        Assert.Equal("add", (string?)node["addOrUpdate"]);
    }

    [Fact]
    public void Single_quotes_line_breaks_and_trailing_commas_are_accepted()
    {
        var node = RelaxedJson.TryParse("{\n 'projectName': 'web',\n operator: root,\n}")?.AsObject();
        Assert.NotNull(node);
        Assert.Equal("web", (string?)node["projectName"]);
        Assert.Equal("root", (string?)node["operator"]);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not json at all")]
    [InlineData("{ project: ")]
    [InlineData("[1, 2")]
    public void Text_that_is_not_even_relaxed_JSON_is_null(string text) => Assert.Null(RelaxedJson.TryParse(text));

    [Fact]
    public void Real_JSON_reads_as_JSON()
    {
        var node = RelaxedJson.TryParse("""{"a":[1,2,{"b":"c"}],"d":true}""");
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"a":[1,2,{"b":"c"}],"d":true}"""), node));
    }
}
