using System.Text;
using System.Text.Encodings.Web;
using BuildGrid.Projects.V1;
using Google.Protobuf;

namespace BuildGrid.Gateway.Dialects.ImageMarket;

/// <summary>The self-contained HTML page of a project's build configuration (seed 000, section 10).</summary>
internal static class ConfigPage
{
    static readonly JsonFormatter Json = new(JsonFormatter.Settings.Default);

    public static string Render(Project project, string? dockerfile, string? dockerfileProblem)
    {
        var html = HtmlEncoder.Default;
        var page = new StringBuilder();
        page.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">");
        page.Append("<title>").Append(html.Encode($"{project.Name} - build configuration")).Append("</title>");
        page.Append("<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}")
            .Append("td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}")
            .Append("pre{background:#f6f8fa;padding:1em;overflow:auto}.problem{color:#b00}</style></head><body>");
        page.Append("<h1>").Append(html.Encode(project.Name)).Append("</h1>");
        page.Append("<table>");
        Row(page, "Cluster", project.Cluster);
        Row(page, "DefineDockerFileType", project.DockerfileType == DockerfileType.Define ? "define" : "plugin");
        Row(page, "Image", $"{project.Cluster}/{project.Name}".ToLowerInvariant());
        Row(page, "creator", project.Creator);
        Row(page, "createTime", ImageMarketService.Time(project.CreateTime));
        Row(page, "lastModifyTime", ImageMarketService.Time(project.UpdateTime));
        Row(page, "lastModifyOperator", project.UpdateOperator);
        page.Append("</table>");

        page.Append("<h2>Plugins</h2>");
        if (project.Plugins.Count == 0)
            page.Append("<p>none</p>");
        else
        {
            page.Append("<table><tr><th>#</th><th>plugin</th><th>parameters</th></tr>");
            for (var i = 0; i < project.Plugins.Count; i++)
            {
                var step = project.Plugins[i];
                page.Append("<tr><td>").Append(i + 1).Append("</td><td>").Append(html.Encode(step.Plugin)).Append("</td><td><pre>")
                    .Append(html.Encode(step.Parameters is null ? "{}" : Json.Format(step.Parameters))).Append("</pre></td></tr>");
            }
            page.Append("</table>");
        }

        page.Append("<h2>Dockerfile</h2>");
        if (dockerfile is not null)
            page.Append("<pre>").Append(html.Encode(dockerfile)).Append("</pre>");
        else
            page.Append("<p class=\"problem\">").Append(html.Encode(dockerfileProblem ?? "no Dockerfile")).Append("</p>");
        page.Append("</body></html>");
        return page.ToString();
    }

    static void Row(StringBuilder page, string name, string value) =>
        page.Append("<tr><th>").Append(HtmlEncoder.Default.Encode(name)).Append("</th><td>")
            .Append(HtmlEncoder.Default.Encode(value)).Append("</td></tr>");
}
