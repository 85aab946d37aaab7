using BuildGrid.Gateway.Rest.V1;
using BuildGrid.Projects.V1;
using Grpc.Core;
using ProjectsClient = BuildGrid.Projects.V1.Projects.ProjectsClient;

namespace BuildGrid.Gateway.Rest;

/// <summary>BuildGrid's own REST routes of the Projects service (projects_rest.proto): the build-context upload.</summary>
public sealed class ProjectsRestService(ProjectsClient projects) : ProjectsRest.ProjectsRestBase
{
    public override async Task<Project> UploadBuildContext(UploadBuildContextRestRequest request, ServerCallContext context) =>
        await projects.UploadBuildContextAsync(new UploadBuildContextRequest
        {
            Name = request.Name, Operator = request.Operator, Archive = request.Archive?.Data ?? Google.Protobuf.ByteString.Empty,
        });
}
