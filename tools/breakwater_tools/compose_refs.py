"""scripts/check-deploy: the files a resolved compose config (`docker-compose config` output)
references, one a line: KIND<TAB>WHAT<TAB>PATH with KIND dir, file or any."""
import os, sys, yaml
config = yaml.safe_load(open(sys.argv[1]))
for name, service in (config.get("services") or {}).items():
    build = service.get("build")
    if isinstance(build, str):
        build = {"context": build}
    if build:
        context = build.get("context", ".")
        print(f"dir\t{name}: build context\t{context}")
        print(f"file\t{name}: Dockerfile\t{os.path.join(context, build.get('dockerfile', 'Dockerfile'))}")
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                print(f"any\t{name}: bind mount\t{volume['source']}")
        else:
            source = volume.split(":")[0]
            if source.startswith(("/", ".", "~")):
                print(f"any\t{name}: bind mount\t{source}")
    env_files = service.get("env_file") or []
    for env_file in [env_files] if isinstance(env_files, str) else env_files:
        print(f"file\t{name}: env_file\t{env_file}")
for kind in ("secrets", "configs"):
    for name, item in (config.get(kind) or {}).items():
        if item and item.get("file"):
            print(f"file\t{kind} {name}\t{item['file']}")
