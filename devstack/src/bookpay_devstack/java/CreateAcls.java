// Creates Kafka ACLs with the Java AdminClient (aiokafka has no CreateAcls request that Kafka 4
// still accepts). Run by the local stack with Java's source launcher:
//   java -cp '<kafka libs>/*' CreateAcls.java <admin client properties> <ACL file>
// Each line of the ACL file is one ALLOW rule, tab-separated: principal (a user name),
// resource type (TOPIC, GROUP), literal resource name, operation (WRITE, READ, ...).
// Creating a rule that exists already changes nothing.

import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

public class CreateAcls {
    public static void main(String[] args) throws Exception {
        Properties config = new Properties();
        try (Reader reader = Files.newBufferedReader(Path.of(args[0]))) {
            config.load(reader);
        }
        List<AclBinding> bindings = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of(args[1]))) {
            if (line.isBlank()) {
                continue;
            }
            String[] rule = line.split("\t");
            bindings.add(new AclBinding(
                new ResourcePattern(ResourceType.valueOf(rule[1]), rule[2], PatternType.LITERAL),
                new AccessControlEntry(
                    "User:" + rule[0], "*", AclOperation.valueOf(rule[3]), AclPermissionType.ALLOW)));
        }
        try (Admin admin = Admin.create(config)) {
            admin.createAcls(bindings).all().get();
        }
        System.out.println("created " + bindings.size() + " ACLs");
    }
}
