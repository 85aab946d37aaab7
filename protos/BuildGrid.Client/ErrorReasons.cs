namespace BuildGrid.Client;

/// <summary>
/// The reasons of the <c>google.rpc.ErrorInfo</c> (domain <see cref="Domain"/>) that BuildGrid's services put in a failed
/// call's status; read them with <see cref="BuildGridErrors.GetErrorInfo"/>. A published reason keeps its meaning; new
/// ones may appear, so treat an unknown reason by its gRPC status code. The package's tests hold this list equal to the
/// server's own table.
/// </summary>
public static class ErrorReasons
{
    public const string Domain = "buildgrid";

    public const string InvalidArgument = "INVALID_ARGUMENT";
    public const string InvalidName = "INVALID_NAME";
    public const string ConcurrentModification = "CONCURRENT_MODIFICATION";
    public const string Unauthenticated = "UNAUTHENTICATED";
    public const string PermissionDenied = "PERMISSION_DENIED";
    /// <summary>The installation's disk is full or below its free-space reserve (code ResourceExhausted): nothing was written.</summary>
    public const string InsufficientStorage = "INSUFFICIENT_STORAGE";

    public const string ProjectNotFound = "PROJECT_NOT_FOUND";
    public const string ProjectAlreadyExists = "PROJECT_ALREADY_EXISTS";
    public const string PluginNotFound = "PLUGIN_NOT_FOUND";
    public const string PluginMethodNotFound = "PLUGIN_METHOD_NOT_FOUND";
    public const string PluginInvalidParameters = "PLUGIN_INVALID_PARAMETERS";

    public const string RunNotFound = "RUN_NOT_FOUND";
    // Build definitions (Zadig builds), templates, code hosts.
    public const string BuildDefinitionNotFound = "BUILD_DEFINITION_NOT_FOUND";
    public const string BuildDefinitionAlreadyExists = "BUILD_DEFINITION_ALREADY_EXISTS";
    public const string BuildTemplateNotFound = "BUILD_TEMPLATE_NOT_FOUND";
    public const string BuildTemplateAlreadyExists = "BUILD_TEMPLATE_ALREADY_EXISTS";
    public const string BuildTemplateInUse = "BUILD_TEMPLATE_IN_USE";
    public const string CodeHostNotFound = "CODE_HOST_NOT_FOUND";
    public const string CodeHostAlreadyExists = "CODE_HOST_ALREADY_EXISTS";
    public const string BuildServiceNotFound = "BUILD_SERVICE_NOT_FOUND";
    public const string UnsupportedBuildStep = "UNSUPPORTED_BUILD_STEP";
    // Containers (Svacer): projects, branches, project groups, snapshots.
    public const string ContainerNotFound = "CONTAINER_NOT_FOUND";
    public const string ContainerAlreadyExists = "CONTAINER_ALREADY_EXISTS";
    public const string ContainerTypeMismatch = "CONTAINER_TYPE_MISMATCH";
    public const string SnapshotNotFound = "SNAPSHOT_NOT_FOUND";
    public const string ProjectAlreadyInGroup = "PROJECT_ALREADY_IN_GROUP";
    public const string ProjectNotInGroup = "PROJECT_NOT_IN_GROUP";

    // Identity: users, API tokens, robot accounts, roles, logins.
    public const string UserNotFound = "USER_NOT_FOUND";
    public const string UserAlreadyExists = "USER_ALREADY_EXISTS";
    public const string TokenNotFound = "TOKEN_NOT_FOUND";
    public const string RobotNotFound = "ROBOT_NOT_FOUND";
    public const string RobotAlreadyExists = "ROBOT_ALREADY_EXISTS";
    public const string RoleBindingNotFound = "ROLE_BINDING_NOT_FOUND";
    public const string TooManyFailedLogins = "TOO_MANY_FAILED_LOGINS";
    public const string TooManyPasswordChecks = "TOO_MANY_PASSWORD_CHECKS";

    // Registry: repositories, tags, manifests, garbage collection.
    public const string RepositoryNotFound = "REPOSITORY_NOT_FOUND";
    public const string NamespaceNotFound = "NAMESPACE_NOT_FOUND";
    public const string TagNotFound = "TAG_NOT_FOUND";
    public const string ManifestNotFound = "MANIFEST_NOT_FOUND";
    public const string GcAlreadyRunning = "GC_ALREADY_RUNNING";
    public const string RepositoryExists = "REPOSITORY_EXISTS";
    // Registry: repository notifications (Quay).
    public const string NotificationNotFound = "NOTIFICATION_NOT_FOUND";
    public const string WebhookRefused = "WEBHOOK_REFUSED";
    // Registry: pull-through caches.
    public const string ProxyCacheNotFound = "PROXY_CACHE_NOT_FOUND";
    public const string UpstreamRefused = "UPSTREAM_REFUSED";
    public const string ProxyCacheFromSettings = "PROXY_CACHE_FROM_SETTINGS";
}
