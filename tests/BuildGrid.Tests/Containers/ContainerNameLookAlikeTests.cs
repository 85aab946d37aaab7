using BuildGrid.Containers.V1;
using BuildGrid.Core.Errors;
using BuildGrid.Tests.Infrastructure;
using Grpc.Core;

namespace BuildGrid.Tests.Containers;

/// <summary>
/// Names that look the same are one name or refused (Svacer names are free text): NFC and NFD spellings of a name are
/// the same project; no-break and other non-ASCII spaces, and words mixing Latin letters with Cyrillic or Greek
/// look-alikes, are refused as INVALID_NAME. Each used to create a second, different-looking-alike project.
/// </summary>
[Collection(StandaloneCollection.Name)]
public sealed class ContainerNameLookAlikeTests(StandaloneFixture fixture)
{
    readonly BuildGrid.Containers.V1.Containers.ContainersClient client = new(fixture.Channel);
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_nfd_spelling_is_the_same_project_as_the_nfc_one()
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var composed = $"caf\u00e9 {suffix}";
        var decomposed = $"cafe\u0301 {suffix}";
        var project = await client.CreateProjectAsync(new CreateProjectRequest { Name = decomposed }, cancellationToken: Ct);
        Assert.Equal(composed, project.Name);
        var again = await Assert.ThrowsAsync<RpcException>(() => client.CreateProjectAsync(new CreateProjectRequest { Name = composed }, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.AlreadyExists, again.StatusCode);
        Assert.Equal(project.Id, (await client.GetProjectAsync(new GetProjectRequest { Name = decomposed }, cancellationToken: Ct)).Id);
    }

    [Theory]
    [InlineData("no\u00a0break", "U+00A0")]         // no-break space
    [InlineData("narrow\u202fspace", "U+202F")]     // narrow no-break space
    [InlineData("ideographic\u3000space", "U+3000")]
    [InlineData("zero\u200bwidth", "U+200B")]       // zero-width space (a format character)
    [InlineData("p\u0430yments", "U+0430")]         // Cyrillic а among Latin letters
    [InlineData("l\u03bfgin", "U+03BF")]            // Greek ο among Latin letters
    public async Task Invisible_spaces_and_mixed_script_look_alikes_are_refused(string name, string character)
    {
        var unique = name + " " + Guid.NewGuid().ToString("N")[..6];
        var e = await Assert.ThrowsAsync<RpcException>(() => client.CreateProjectAsync(new CreateProjectRequest { Name = unique }, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Equal(Reasons.InvalidName, e.Info()?.Reason);
        Assert.Equal(character, e.Info()?.Metadata["char"]);
    }

    [Theory]
    [InlineData("Проект ядра")]        // all Cyrillic
    [InlineData("λόγος")]              // all Greek
    [InlineData("proftpd 1.3 (legacy)")]
    [InlineData("日本語 project")]      // other scripts mix freely with Latin: they have no Latin look-alikes
    [InlineData("core ядро")]          // Latin and Cyrillic in separate words
    public async Task Names_in_one_script_are_accepted(string name)
    {
        var unique = name + " " + Guid.NewGuid().ToString("N")[..6];
        var project = await client.CreateProjectAsync(new CreateProjectRequest { Name = unique }, cancellationToken: Ct);
        Assert.Equal(unique, project.Name);
    }
}
