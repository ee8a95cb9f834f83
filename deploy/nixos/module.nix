# NixOS module for nardedup: serve a deduplicating repository as a Nix
# binary cache, and collect its garbage on a timer.
#
# One option a flag of `nardedup serve` (run `nardedup serve --help`);
# flags without an option go into `settings`, written to a TOML file that
# serve and gc read with --config. Secrets are files, never store paths
# or option values: `environmentFile` (S3 credentials) and the auth files,
# handed to the service as systemd credentials.
#
# From a flake (the repository has no flake.nix of its own, so take it
# as plain source and build the package here):
#
#   inputs.nardedup = { url = "github:nardedup/nardedup"; flake = false; };
#
#   outputs = { nixpkgs, nardedup, ... }: {
#     nixosConfigurations.cache = nixpkgs.lib.nixosSystem {
#       system = "x86_64-linux";
#       modules = [
#         "${nardedup}/deploy/nixos/module.nix"
#         ({ pkgs, ... }: {
#           services.nardedup = {
#             enable = true;
#             package = pkgs.buildGoModule {
#               pname = "nardedup";
#               version = "unstable";
#               src = nardedup;
#               subPackages = [ "cmd/nardedup" ];
#               vendorHash = pkgs.lib.fakeHash; # replace with the hash Nix reports
#             };
#             repo = "s3://nardedup-repo/repo?region=eu-west-1";
#             environmentFile = "/run/secrets/nardedup.env"; # AWS_ACCESS_KEY_ID=…, AWS_SECRET_ACCESS_KEY=…
#             gc.enable = true;
#           };
#           nix.settings.substituters = [ "http://127.0.0.1:8080" ];
#         })
#       ];
#     };
#   };
{ config, lib, pkgs, ... }:

let
  cfg = config.services.nardedup;
  inherit (lib) mkOption mkEnableOption mkIf types optionals optional;

  stateDir = "/var/lib/nardedup";

  settingsFile = (pkgs.formats.toml { }).generate "nardedup.toml" cfg.settings;

  # Flags every command takes.
  commonArgs = [ "--repo" cfg.repo "--index-cache" "${stateDir}/index"
    "--log-format" cfg.logFormat "--log-level" cfg.logLevel ]
    ++ optionals (cfg.settings != { }) [ "--config" "${settingsFile}" ];

  # An optional flag: passed only when its option is set.
  opt = flag: value: optionals (value != null) [ flag (toString value) ];

  # Secret files, read as systemd credentials: option, flag, credential.
  secrets = [
    { value = cfg.authTokenFile; flag = "--auth-token"; name = "auth-token"; }
    { value = cfg.basicAuthFile; flag = "--basic-auth"; name = "basic-auth"; }
    { value = cfg.uploadTokenFile; flag = "--upload-token"; name = "upload-token"; }
    { value = cfg.uploadBasicAuthFile; flag = "--upload-basic-auth"; name = "upload-basic-auth"; }
    { value = cfg.signKeyFile; flag = "--sign-key"; name = "sign-key"; }
  ];
  setSecrets = builtins.filter (x: x.value != null) secrets;

  serveArgs = commonArgs ++ [
    "--listen" cfg.listen
    "--priority" (toString cfg.priority)
    "--compression" cfg.compression
    "--frame-cache" cfg.frameCache
    "--max-nar-streams" (toString cfg.maxNarStreams)
    "--send-timeout" cfg.sendTimeout
    "--idle-timeout" cfg.idleTimeout
  ]
  ++ optionals (cfg.cacheDir != null) [ "--cache-dir" cfg.cacheDir "--cache-size" cfg.cacheSize ]
  ++ lib.concatMap (x: [ x.flag "%d/${x.name}" ]) setSecrets
  ++ optionals (cfg.uploadRequireSigs != [ ]) [ "--upload-require-sigs" (lib.concatStringsSep " " cfg.uploadRequireSigs) ]
  ++ opt "--max-upload-size" cfg.maxUploadSize
  ++ opt "--min-rate" cfg.minRate
  ++ opt "--min-rate-window" cfg.minRateWindow
  ++ opt "--narinfo-max-age" cfg.narinfoMaxAge
  ++ opt "--negative-max-age" cfg.negativeMaxAge
  ++ opt "--metrics-listen" cfg.metricsListen
  ++ cfg.extraArgs;

  gcArgs = commonArgs ++ [ "--quiet" "--grace" cfg.gc.grace ] ++ cfg.gc.extraArgs;

  # The same sandbox for serve and gc.
  hardening = {
    DynamicUser = true;
    User = "nardedup";
    Group = "nardedup";
    StateDirectory = "nardedup";
    StateDirectoryMode = "0700";
    UMask = "0077";
    EnvironmentFile = optional (cfg.environmentFile != null) cfg.environmentFile;
    ProtectSystem = "strict";
    ProtectHome = true;
    PrivateTmp = true;
    PrivateDevices = true;
    PrivateUsers = true;
    PrivateMounts = true;
    NoNewPrivileges = true;
    CapabilityBoundingSet = "";
    ProtectKernelTunables = true;
    ProtectKernelModules = true;
    ProtectKernelLogs = true;
    ProtectControlGroups = true;
    ProtectClock = true;
    ProtectHostname = true;
    ProtectProc = "invisible";
    RestrictAddressFamilies = [ "AF_INET" "AF_INET6" "AF_UNIX" ];
    RestrictNamespaces = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    LockPersonality = true;
    MemoryDenyWriteExecute = true;
    RemoveIPC = true;
    DevicePolicy = "closed";
    SystemCallArchitectures = "native";
    SystemCallFilter = [ "@system-service" "~@privileged @resources" ];
    SystemCallErrorNumber = "EPERM";
  };
in
{
  options.services.nardedup = {
    enable = mkEnableOption "nardedup, a deduplicating Nix binary cache server";

    package = mkOption {
      type = types.package;
      description = "The nardedup package (not in nixpkgs: see the comment at the top of this file).";
    };

    repo = mkOption {
      type = types.str;
      example = "s3://nardedup-repo/repo?region=eu-west-1";
      description = ''
        --repo: the repository, a directory or s3://BUCKET/PREFIX. S3
        credentials come from environmentFile. For a directory, the
        service's dynamic user must be able to read it (and gc to write
        it: add it to systemd.services.nardedup-gc.serviceConfig.ReadWritePaths).
      '';
    };

    listen = mkOption {
      type = types.str;
      default = "127.0.0.1:8080";
      description = "--listen: the address to serve on.";
    };

    priority = mkOption {
      type = types.int;
      default = 40;
      description = "--priority: nix-cache-info Priority (lower is preferred).";
    };

    compression = mkOption {
      type = types.enum [ "zstd" "none" ];
      default = "zstd";
      description = "--compression: how NARs are offered.";
    };

    frameCache = mkOption {
      type = types.str;
      default = "256M";
      description = "--frame-cache: bytes of decoded frames kept in memory (0: none).";
    };

    maxNarStreams = mkOption {
      type = types.int;
      default = 0;
      description = "--max-nar-streams: NAR downloads in progress at most (0: sized from memory, -1: no bound).";
    };

    sendTimeout = mkOption {
      type = types.str;
      default = "1m";
      description = "--send-timeout: cut off a NAR download whose client reads nothing for this long.";
    };

    idleTimeout = mkOption {
      type = types.str;
      default = "2m";
      description = "--idle-timeout: close a keep-alive connection idle for this long.";
    };

    cacheDir = mkOption {
      type = types.nullOr types.str;
      default = "${stateDir}/cache";
      description = "--cache-dir: local cache of packs, manifests and index objects (for a repository on S3; null: none).";
    };

    cacheSize = mkOption {
      type = types.str;
      default = "10G";
      description = "--cache-size: bound of cacheDir.";
    };

    authTokenFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = "/run/secrets/nardedup-tokens";
      description = "--auth-token: a file of bearer tokens, one a line (read as a systemd credential; null: no token auth).";
    };

    basicAuthFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      description = "--basic-auth: a file of user:password lines (read as a systemd credential; null: no basic auth).";
    };

    uploadTokenFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = "/run/secrets/nardedup-upload-tokens";
      description = ''
        --upload-token: a file of bearer tokens that may push (nix copy
        --to, nix store copy-log --to), one a line (read as a systemd
        credential; null, with uploadBasicAuthFile null too: read-only).
      '';
    };

    uploadBasicAuthFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      description = "--upload-basic-auth: a file of user:password lines that may push (read as a systemd credential).";
    };

    signKeyFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = "/run/secrets/nardedup-sign-key";
      description = "--sign-key: a Nix secret key file (nix-store --generate-binary-cache-key) to sign every pushed narinfo with (read as a systemd credential).";
    };

    uploadRequireSigs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "ci-1:AbCd…=" ];
      description = "--upload-require-sigs: refuse a pushed narinfo without a valid signature by one of these public keys.";
    };

    maxUploadSize = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "8G";
      description = "--max-upload-size: refuse a pushed NAR file, or the NAR it holds, or a build log, over this many bytes (null: the default, 32G).";
    };

    minRate = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "16K";
      description = "--min-rate: cut off a NAR download read slower than this many bytes a second (null: the default, 16K; 0: never).";
    };

    minRateWindow = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "30s";
      description = "--min-rate-window: the window over which minRate is measured (null: the default).";
    };

    narinfoMaxAge = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "1h";
      description = "--narinfo-max-age: how long caches and CDNs may keep a narinfo, build log or realisation (null: the default, 1h).";
    };

    negativeMaxAge = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "1m";
      description = "--negative-max-age: how long caches and CDNs may keep a 404 (null: the default, 1m).";
    };

    metricsListen = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "127.0.0.1:9101";
      description = "--metrics-listen: serve Prometheus metrics at http://ADDR/metrics, a listener of their own (null: none).";
    };

    logFormat = mkOption {
      type = types.enum [ "text" "json" ];
      default = "text";
      description = "--log-format of serve and gc: json for a collector.";
    };

    logLevel = mkOption {
      type = types.enum [ "debug" "info" "warn" "error" ];
      default = "info";
      description = "--log-level of serve and gc.";
    };

    environmentFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = "/run/secrets/nardedup.env";
      description = "A systemd EnvironmentFile for serve and gc: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, or any NARDEDUP_* variable.";
    };

    settings = mkOption {
      type = (pkgs.formats.toml { }).type;
      default = { };
      example = { "max-nar-streams" = 64; "recompress" = true; };
      description = ''
        Other flags, by their names, written to a TOML file in the Nix
        store that serve and gc read with --config (each the flags it
        has; a name that is no flag is an error). No secrets here: the
        store is world-readable.
      '';
    };

    extraArgs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "More arguments of nardedup serve.";
    };

    gc = {
      enable = mkEnableOption "a timer that runs nardedup gc on the repository";

      dates = mkOption {
        type = types.str;
        default = "daily";
        description = "When gc runs (systemd.time OnCalendar).";
      };

      grace = mkOption {
        type = types.str;
        default = "1h";
        description = "--grace: gc never condemns packs and manifests younger than this.";
      };

      extraArgs = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "More arguments of nardedup gc.";
      };
    };
  };

  config = mkIf cfg.enable {
    systemd.services.nardedup = {
      description = "nardedup: serve a deduplicated Nix binary cache";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      serviceConfig = hardening // {
        Type = "exec";
        ExecStart = lib.escapeShellArgs ([ "${cfg.package}/bin/nardedup" "serve" ] ++ serveArgs);
        LoadCredential = map (x: "${x.name}:${x.value}") setSecrets;
        Restart = "on-failure";
        RestartSec = "5s";
        LimitNOFILE = 65536;
      };
    };

    systemd.services.nardedup-gc = mkIf cfg.gc.enable {
      description = "nardedup: delete the repository's unreferenced data";
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      serviceConfig = hardening // {
        Type = "oneshot";
        ExecStart = lib.escapeShellArgs ([ "${cfg.package}/bin/nardedup" "gc" ] ++ gcArgs);
        Nice = 10;
        IOSchedulingClass = "idle";
      };
    };

    systemd.timers.nardedup-gc = mkIf cfg.gc.enable {
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnCalendar = cfg.gc.dates;
        RandomizedDelaySec = "1h";
        Persistent = true;
      };
    };
  };
}
